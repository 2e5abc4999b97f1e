/*
 * Lists of model paths for tests that run over many models
 * (test_engine_file, test_no_alloc): a growable list of strings, and the
 * model files of a directory, sorted.
 */
#ifndef FWD_TESTS_MODEL_LIST_H
#define FWD_TESTS_MODEL_LIST_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct tu_list {
    char **items;
    int n, cap;
} tu_list;

static inline bool tu_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Appends a copy of s (dropped when out of memory). */
static inline void tu_list_add(tu_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **items = realloc(l->items, sizeof(char *) * (size_t)cap);
        if (!items) return;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (copy) l->items[l->n++] = copy;
}

static inline void tu_list_free(tu_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static inline int tu_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir/<entry> for every file whose name ends in ext or, with suffix, every
 * dir/<entry>/suffix that exists; appended in name order. */
static inline void tu_list_add_dir(tu_list *l, const char *dir, const char *ext, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return;
    tu_list found = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        if (suffix) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, de->d_name, suffix);
            if (tu_exists(path)) tu_list_add(&found, path);
        } else {
            size_t n = strlen(de->d_name), e = strlen(ext);
            if (n > e && strcmp(de->d_name + n - e, ext) == 0) {
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                tu_list_add(&found, path);
            }
        }
    }
    closedir(d);
    if (found.n) qsort(found.items, (size_t)found.n, sizeof(char *), tu_cmp_str);
    for (int i = 0; i < found.n; i++) tu_list_add(l, found.items[i]);
    tu_list_free(&found);
}

#endif
