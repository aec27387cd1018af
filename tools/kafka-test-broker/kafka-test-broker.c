/*
 * kafka-test-broker: a throwaway Kafka "cluster" for integration tests and
 * benchmarks, built on librdkafka's in-process mock cluster
 * (librdkafka/rdkafka_mock.h, librdkafka >= 2.0).
 *
 * Usage:
 *   kafka-test-broker [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * On startup it prints exactly one line to stdout:
 *   BOOTSTRAP=<host:port,host:port,...>
 * and then serves a line-based command protocol on stdin. Every non-blank
 * command line gets exactly one reply line, "OK" or "ERR <reason>":
 *
 *   down <broker_id>                       rd_kafka_mock_broker_set_down
 *   up <broker_id>                         rd_kafka_mock_broker_set_up
 *   rtt <broker_id> <ms>                   rd_kafka_mock_broker_set_rtt
 *   errors <api_key> <error_code> <count>  rd_kafka_mock_push_request_errors
 *   clear <api_key>                        rd_kafka_mock_clear_request_errors
 *   leader <topic> <partition> <broker_id> rd_kafka_mock_partition_set_leader
 *   topic <name> <partitions>              rd_kafka_mock_topic_create
 *   quit                                   destroy the cluster and exit 0
 *
 * Broker ids start at 1; -1 means "all brokers" for down/up/rtt.
 *
 * The process also exits cleanly on EOF on stdin (so it dies with the parent
 * that holds the other end of the pipe) and on SIGTERM/SIGINT.
 *
 * Everything librdkafka logs goes to stderr; stdout carries only the protocol.
 */

#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096
#define MAX_ERROR_COUNT 100000

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) {
        stop_signal = sig;
}

static rd_kafka_mock_cluster_t *mcluster;
static int replication_factor;

/* Parse a whole string as a base-10 integer in [min, max]. */
static int parse_int(const char *s, long min, long max, long *out) {
        char *end;
        long v;

        if (!s || !*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* Write one protocol line to stdout. Exits if the parent has gone away. */
static void reply(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        if (fflush(stdout) != 0) {
                /* stdout is a pipe to the parent; if it is gone, so are we. */
                stop_signal = SIGPIPE;
        }
}

static void reply_err(rd_kafka_resp_err_t err) {
        if (err)
                reply("ERR %s: %s", rd_kafka_err2name(err),
                      rd_kafka_err2str(err));
        else
                reply("OK");
}

static rd_kafka_resp_err_t create_topic(const char *name, int partitions) {
        return rd_kafka_mock_topic_create(mcluster, name, partitions,
                                          replication_factor);
}

/* Split `line` in place into at most `max` whitespace-separated words. */
static int split(char *line, char **argv, int max) {
        int argc = 0;
        char *save, *tok;

        for (tok = strtok_r(line, " \t\r", &save); tok;
             tok = strtok_r(NULL, " \t\r", &save)) {
                if (argc == max)
                        return -1;
                argv[argc++] = tok;
        }
        return argc;
}

/* Execute one command line. Returns 1 if the program should exit. */
static int handle_command(char *line) {
        char *argv[5];
        int argc = split(line, argv, 5);
        long a, b, c;
        const char *cmd;

        if (argc == 0)
                return 0; /* blank line: no reply */
        if (argc < 0) {
                reply("ERR too many arguments");
                return 0;
        }
        cmd = argv[0];

        if (!strcmp(cmd, "quit") && argc == 1) {
                reply("OK");
                return 1;

        } else if ((!strcmp(cmd, "down") || !strcmp(cmd, "up")) && argc == 2) {
                if (parse_int(argv[1], -1, INT32_MAX, &a)) {
                        reply("ERR invalid broker id '%s'", argv[1]);
                        return 0;
                }
                reply_err(!strcmp(cmd, "down")
                              ? rd_kafka_mock_broker_set_down(mcluster, a)
                              : rd_kafka_mock_broker_set_up(mcluster, a));

        } else if (!strcmp(cmd, "rtt") && argc == 3) {
                if (parse_int(argv[1], -1, INT32_MAX, &a) ||
                    parse_int(argv[2], 0, INT_MAX, &b)) {
                        reply("ERR usage: rtt <broker_id> <ms>");
                        return 0;
                }
                reply_err(rd_kafka_mock_broker_set_rtt(mcluster, a, (int)b));

        } else if (!strcmp(cmd, "errors") && argc == 4) {
                rd_kafka_resp_err_t *errs;
                long i;

                /* error_code may be negative: librdkafka's internal codes,
                 * e.g. -195 (RD_KAFKA_RESP_ERR__TRANSPORT) makes the mock
                 * broker drop the connection instead of replying. */
                if (parse_int(argv[1], 0, INT16_MAX, &a) ||
                    parse_int(argv[2], INT_MIN, INT_MAX, &b) ||
                    parse_int(argv[3], 1, MAX_ERROR_COUNT, &c)) {
                        reply("ERR usage: errors <api_key> <error_code> "
                              "<count 1..%d>",
                              MAX_ERROR_COUNT);
                        return 0;
                }
                errs = malloc(sizeof(*errs) * (size_t)c);
                if (!errs) {
                        reply("ERR out of memory");
                        return 0;
                }
                for (i = 0; i < c; i++)
                        errs[i] = (rd_kafka_resp_err_t)b;
                /* Cluster-wide error stack: the next `c` requests of this
                 * ApiKey, to any broker, fail with this error. */
                rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a,
                                                        (size_t)c, errs);
                free(errs);
                reply("OK");

        } else if (!strcmp(cmd, "clear") && argc == 2) {
                if (parse_int(argv[1], 0, INT16_MAX, &a)) {
                        reply("ERR usage: clear <api_key>");
                        return 0;
                }
                rd_kafka_mock_clear_request_errors(mcluster, (int16_t)a);
                reply("OK");

        } else if (!strcmp(cmd, "leader") && argc == 4) {
                if (parse_int(argv[2], 0, INT32_MAX, &a) ||
                    parse_int(argv[3], -1, INT32_MAX, &b)) {
                        reply("ERR usage: leader <topic> <partition> "
                              "<broker_id|-1>");
                        return 0;
                }
                reply_err(rd_kafka_mock_partition_set_leader(
                    mcluster, argv[1], (int32_t)a, (int32_t)b));

        } else if (!strcmp(cmd, "topic") && argc == 3) {
                if (parse_int(argv[2], 1, 100000, &a)) {
                        reply("ERR usage: topic <name> <partitions>");
                        return 0;
                }
                reply_err(create_topic(argv[1], (int)a));

        } else {
                reply("ERR unknown command or wrong arguments: %s", cmd);
        }
        return 0;
}

/*
 * Read stdin line by line until EOF, "quit", or a termination signal.
 *
 * SIGINT/SIGTERM are blocked everywhere except inside ppoll(), so they can
 * only interrupt us at that one point and we never miss one between checking
 * the flag and going to sleep.
 */
static void command_loop(const sigset_t *wait_mask) {
        char buf[MAX_LINE];
        size_t len      = 0;
        int discarding = 0; /* skipping the rest of an over-long line */

        while (!stop_signal) {
                struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
                ssize_t r;
                char *nl;

                if (ppoll(&pfd, 1, NULL, wait_mask) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("kafka-test-broker: ppoll");
                        return;
                }

                r = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
                if (r < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        perror("kafka-test-broker: read");
                        return;
                }
                if (r == 0) {
                        /* EOF: the parent closed the pipe (or died). Run a
                         * final unterminated line, if any, then exit. */
                        buf[len] = '\0';
                        if (len > 0 && !discarding)
                                handle_command(buf);
                        return;
                }
                len += (size_t)r;
                buf[len] = '\0';

                while ((nl = memchr(buf, '\n', len))) {
                        size_t used = (size_t)(nl - buf) + 1;
                        *nl         = '\0';
                        if (discarding)
                                discarding = 0;
                        else if (handle_command(buf))
                                return;
                        memmove(buf, buf + used, len - used);
                        len -= used;
                        buf[len] = '\0';
                        if (stop_signal)
                                return;
                }

                if (len == sizeof(buf) - 1) {
                        /* One reply per line, even for garbage. */
                        if (!discarding)
                                reply("ERR line too long");
                        discarding = 1;
                        len        = 0;
                }
        }
}

/* librdkafka's default logger, minus the one warning we cause on purpose. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers"))
                return;
        fprintf(stderr, "%%%d|%s|%s| %s\n", level, fac,
                rk ? rd_kafka_name(rk) : "", buf);
}

static void usage(const char *prog) {
        fprintf(stderr,
                "Usage: %s [--brokers N] [--topic NAME:PARTITIONS]...\n"
                "Prints BOOTSTRAP=<servers> and then reads commands from "
                "stdin (see README.md).\n",
                prog);
}

int main(int argc, char **argv) {
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        char errstr[512];
        const char *topics[256];
        int topic_cnt = 0;
        long brokers  = 1;
        sigset_t block, orig;
        struct sigaction sa;
        int i;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        if (parse_int(argv[++i], 1, 64, &brokers)) {
                                fprintf(stderr, "--brokers must be 1..64\n");
                                return 2;
                        }
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
                        if (topic_cnt == (int)(sizeof(topics) /
                                               sizeof(*topics))) {
                                fprintf(stderr, "too many --topic options\n");
                                return 2;
                        }
                        topics[topic_cnt++] = argv[++i];
                } else if (!strcmp(argv[i], "--help") ||
                           !strcmp(argv[i], "-h")) {
                        usage(argv[0]);
                        return 0;
                } else {
                        usage(argv[0]);
                        return 2;
                }
        }

        /* Block the termination signals before librdkafka starts any threads
         * (threads inherit the mask), so they are only ever delivered to the
         * main thread while it waits in ppoll(). */
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &orig);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* A dead parent must surface as a write error, not kill us mid-way. */
        signal(SIGPIPE, SIG_IGN);

        /* The mock cluster needs an rd_kafka_t for bookkeeping only; this
         * handle has no bootstrap.servers and never talks to anything. */
        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new failed: %s\n", errstr);
                return 1;
        }

        mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
        if (!mcluster) {
                fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }
        replication_factor = brokers < 3 ? (int)brokers : 3;

        for (i = 0; i < topic_cnt; i++) {
                char name[256];
                const char *colon = strrchr(topics[i], ':');
                long parts;
                rd_kafka_resp_err_t err;

                if (!colon || colon == topics[i] ||
                    (size_t)(colon - topics[i]) >= sizeof(name) ||
                    parse_int(colon + 1, 1, 100000, &parts)) {
                        fprintf(stderr,
                                "invalid --topic '%s' (want NAME:PARTITIONS)\n",
                                topics[i]);
                        rd_kafka_mock_cluster_destroy(mcluster);
                        rd_kafka_destroy(rk);
                        return 2;
                }
                memcpy(name, topics[i], (size_t)(colon - topics[i]));
                name[colon - topics[i]] = '\0';

                if ((err = create_topic(name, (int)parts))) {
                        fprintf(stderr, "creating topic %s failed: %s\n", name,
                                rd_kafka_err2str(err));
                        rd_kafka_mock_cluster_destroy(mcluster);
                        rd_kafka_destroy(rk);
                        return 1;
                }
        }

        reply("BOOTSTRAP=%s", rd_kafka_mock_cluster_bootstraps(mcluster));

        /* Wait with the original mask, i.e. with SIGINT/SIGTERM unblocked. */
        sigdelset(&orig, SIGINT);
        sigdelset(&orig, SIGTERM);
        command_loop(&orig);

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
