/* pool.h — a persistent pthread pool.
 *
 * g2r_pool_run(p, n, fn, ctx) calls fn(ctx, task, thread) once for every task
 * in [0, n), spread over the pool's threads (the caller is thread 0), and
 * returns when all are done.  Which thread runs a task varies; results must
 * therefore depend only on the task index (split over outputs, never over a
 * reduction), which is what makes output identical for any thread count.
 * Workers spin briefly between runs (decode issues many small runs per token)
 * and then sleep; a run takes no lock unless a worker is asleep. */
#ifndef G2R_POOL_H
#define G2R_POOL_H

#include "gpt2rank.h"

typedef void (*g2r_task_fn)(void *ctx, int task, int thread);
typedef struct g2r_pool g2r_pool;

/* n_threads <= 0: all online cores. */
g2r_status g2r_pool_new(int n_threads, g2r_pool **out, g2r_error *err);
void g2r_pool_free(g2r_pool *p);
int g2r_pool_size(const g2r_pool *p);
void g2r_pool_run(g2r_pool *p, int n_tasks, g2r_task_fn fn, void *ctx);

#endif
