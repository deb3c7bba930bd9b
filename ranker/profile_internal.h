/* profile_internal.h — what rank.c reads from a profile beyond the public API. */
#ifndef G2R_PROFILE_INTERNAL_H
#define G2R_PROFILE_INTERNAL_H

#include "gpt2rank.h"

/* The width of the profile's vectors (g2r_profile_new's dim). */
int g2r_profile_dim(const g2r_profile *p);
/* Item rows the profile's events named, sorted and unique. */
const int64_t *g2r_profile_seen(const g2r_profile *p, size_t *n);
/* Each kept event's share of cosine(profile, x); returns how many. */
int g2r_profile_contributions(const g2r_profile *p, const float *x, float *out);
void g2r_profile_kept(const g2r_profile *p, int i, const char **type, const char **text, const char **item);
int g2r_profile_kept_max(const g2r_profile *p);

/* For serve's snapshots (the format is in profile.c): writes p to f with
 * each seen row mapped by row_map (-1: dropped); returns 0 or -1.  Reading
 * needs the same dim and keep_events. */
int g2r_profile_write(const g2r_profile *p, FILE *f, int64_t (*row_map)(void *user, int64_t row), void *user);
g2r_status g2r_profile_read(int dim, const g2r_profile_params *prm, FILE *f, g2r_profile **out, g2r_error *err);

#endif
