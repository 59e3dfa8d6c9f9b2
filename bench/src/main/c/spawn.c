/*
 * posix_spawn + waitpid, back to back: the C floor under SpawnBenchmark.
 *
 *   spawn [--parent-cpu N] [--stdio null|inherit] [--warmup S] [--time S] [--reps N] -- COMMAND ARGS...
 *
 * Each operation starts COMMAND with posix_spawnp (PATH searched, this process's environment) and reaps it
 * with waitpid, checking that it exited 0. --stdio null (the default) opens /dev/null on its fds 0, 1 and 2
 * with posix_spawn file actions, like SpawnBenchmark's *Discard pair. scripts/bench gives it the very
 * command line the Java benchmarks start in the same placement: /bin/true, or `taskset -c 1 /bin/true`.
 * glibc runs posix_spawn as clone(CLONE_VM|CLONE_VFORK) + exec, as panpipe's Subprocess does.
 *
 * One JSON line: spawns per second, the median of the repetitions, with their minimum and maximum.
 */
#include "bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#define MAX_REPS 50

extern char **environ;

struct spawn {
    char **command;
    posix_spawn_file_actions_t actions;
};

static void spawn_and_wait(void *arg) {
    struct spawn *s = arg;
    char **command = s->command;
    posix_spawn_file_actions_t *actions = &s->actions;
    pid_t pid;
    int rc = posix_spawnp(&pid, command[0], actions, NULL, command, environ);
    if (rc != 0) DIE("posix_spawnp %s: %s", command[0], strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) DIE("waitpid: %s", strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) DIE("%s ended with status 0x%x", command[0], status);
}

int main(int argc, char **argv) {
    program_name = "spawn";
    int parent_cpu = -1, reps = 3, null_stdio = 1, i;
    double warmup = 0.5, seconds = 1;
    for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) DIE("%s needs a value", a);
        if (!strcmp(a, "--parent-cpu")) parent_cpu = parse_cpu(v);
        else if (!strcmp(a, "--stdio")) {
            if (!strcmp(v, "null")) null_stdio = 1;
            else if (!strcmp(v, "inherit")) null_stdio = 0;
            else DIE("--stdio: null or inherit, not %s", v);
        } else if (!strcmp(a, "--warmup")) warmup = parse_seconds(v);
        else if (!strcmp(a, "--time")) seconds = parse_seconds(v);
        else if (!strcmp(a, "--reps")) reps = (int) parse_long(v, 1, MAX_REPS, "reps");
        else DIE("unknown option %s", a);
        i++;
    }
    if (i + 1 >= argc) DIE("no command: spawn [options] -- COMMAND ARGS...");
    char **command = argv + i + 1;
    pin(parent_cpu);
    char cpus[64];
    cpus_allowed(cpus, sizeof cpus);

    struct spawn s = {.command = command};
    posix_spawn_file_actions_init(&s.actions);
    if (null_stdio) {
        posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&s.actions, 2, "/dev/null", O_WRONLY, 0);
    }
    double rates[MAX_REPS];
    measure_rate(spawn_and_wait, &s, 1, warmup, seconds, reps, rates);
    posix_spawn_file_actions_destroy(&s.actions);

    printf("{\"name\":\"spawn\",\"stdio\":\"%s\",\"command\":\"", null_stdio ? "null" : "inherit");
    for (char **c = command; *c; c++) {
        for (const char *p = *c; *p; p++) {
            if (*p == '"' || *p == '\\') putchar('\\');
            putchar(*p);
        }
        if (c[1]) putchar(' ');
    }
    printf("\",\"parent_cpu\":%d,\"parent_cpus\":\"%s\",\"reps\":%d,\"time_s\":%.3f,", parent_cpu, cpus, reps, seconds);
    print_reps("ops_per_s", rates, reps);
    printf("}\n");
    return 0;
}
