/* pool.c — persistent workers: spin on a generation counter, then sleep on a condvar. */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"

#define SPIN_ROUNDS 4000

struct g2r_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int gen;      /* bumped once per run */
    atomic_int sleepers; /* workers blocked on cv */
    atomic_int next;     /* next task to hand out */
    atomic_int pending;  /* workers still inside the current run */
    atomic_int stop;
    g2r_task_fn fn;
    void *ctx;
    int n_tasks;
};

typedef struct {
    g2r_pool *p;
    int id;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void do_tasks(g2r_pool *p, int thread) {
    int t;
    while ((t = atomic_fetch_add(&p->next, 1)) < p->n_tasks) p->fn(p->ctx, t, thread);
}

static void *worker(void *arg) {
    worker_arg *wa = arg;
    g2r_pool *p = wa->p;
    int id = wa->id;
    free(wa);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop) && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->gen);
        do_tasks(p, id);
        atomic_fetch_sub(&p->pending, 1);
    }
}

static void wake_all(g2r_pool *p) {
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

g2r_status g2r_pool_new(int n_threads, g2r_pool **out, g2r_error *err) {
    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > 1024) return g2r_fail(err, G2R_EARG, "thread count %d is too large (max 1024)", n_threads);
    g2r_pool *p = calloc(1, sizeof *p);
    if (!p) return g2r_fail(err, G2R_ENOMEM, "thread pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        g2r_pool_free(p);
        return g2r_fail(err, G2R_ENOMEM, "thread pool: out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        int started = 0;
        if (wa) {
            wa->p = p;
            wa->id = i;
            started = pthread_create(&p->threads[i], NULL, worker, wa) == 0;
        }
        if (!started) {
            free(wa);
            p->n_threads = i; /* join only those started */
            g2r_pool_free(p);
            return g2r_fail(err, G2R_ENOMEM, "thread pool: cannot start thread %d", i);
        }
    }
    *out = p;
    return G2R_OK;
}

void g2r_pool_free(g2r_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        if (p->threads) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int g2r_pool_size(const g2r_pool *p) { return p->n_threads; }

void g2r_pool_run(g2r_pool *p, int n_tasks, g2r_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, p->n_threads - 1);
    atomic_fetch_add(&p->gen, 1); /* publishes fn/ctx/n_tasks (seq_cst) */
    wake_all(p);
    do_tasks(p, 0);
    while (atomic_load(&p->pending) > 0) cpu_relax();
}
