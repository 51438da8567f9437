/* Baseline for the HTTP benchmark: N GETs of one URL over `conc` concurrent
 * transfers with libcurl's multi interface and curl_multi_poll, the way a
 * hand-written C client would do it. Prints requests/s on one line:
 *   raw N requests in S s: R req/s (B bytes)
 *
 * usage: http_raw URL N CONCURRENCY [USER_AGENT]
 * With USER_AGENT it sends the request ferry's client sends by default
 * (that User-Agent and its Accept header), so both put the same bytes on
 * the wire: libcurl formats every header byte through its printf engine,
 * and the two headers alone are ~9% of a request's instructions. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each transfer collects its body in its own buffer, as any client that
 * uses the response must; the bytes are counted when the transfer ends. */
struct body {
    char *data;
    size_t len, cap;
};

static size_t sink(char *p, size_t s, size_t n, void *arg) {
    struct body *b = arg;
    size_t len = s * n;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) return 0;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return len;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: http_raw URL N CONCURRENCY [USER_AGENT]\n");
        return 2;
    }
    const char *ua = argc > 4 ? argv[4] : NULL;
    const char *url = argv[1];
    int total = atoi(argv[2]), conc = atoi(argv[3]), started = 0, done = 0, failed = 0;
    size_t bytes = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    struct curl_slist *headers = ua ? curl_slist_append(NULL, "Accept: application/json, */*;q=0.5") : NULL;
    CURL **easy = calloc((size_t)conc, sizeof *easy);
    struct body *bodies = calloc((size_t)conc, sizeof *bodies);
    double t0 = now();
    for (int i = 0; i < conc && started < total; i++, started++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bodies[i]);
        curl_easy_setopt(easy[i], CURLOPT_PRIVATE, &bodies[i]);
        curl_easy_setopt(easy[i], CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        if (ua) {
            curl_easy_setopt(easy[i], CURLOPT_USERAGENT, ua);
            curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, headers);
        }
        curl_multi_add_handle(multi, easy[i]);
    }
    while (done < total) {
        int running, left;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != 200) failed++;
            struct body *b;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&b);
            bytes += b->len;
            b->len = 0;
            done++;
            CURL *e = m->easy_handle;
            curl_multi_remove_handle(multi, e);
            if (started < total) {
                started++;
                curl_multi_add_handle(multi, e);     /* reuse the handle and its connection */
            }
        }
        if (done < total) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    double secs = now() - t0;
    printf("raw %d requests in %.3f s: %.0f req/s (%zu bytes, %d failed)\n", total, secs, total / secs, bytes, failed);
    for (int i = 0; i < conc; i++) if (easy[i]) curl_easy_cleanup(easy[i]);
    for (int i = 0; i < conc; i++) free(bodies[i].data);
    free(bodies);
    free(easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
