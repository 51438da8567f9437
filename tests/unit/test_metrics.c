/* Unit tests for core/fy_metrics.c's in-memory half: label escaping, the
 * host label (never a URL's credentials), status classes, the cumulative
 * histogram, retries and rate-limit waits summed per integration. */
#include "fy_buf.h"
#include "fy_metrics.h"
#include "fy_secret.h"
#include "testhelp.h"

#include <string.h>

static int has(const struct fy_buf *b, const char *line) { return b->data && strstr(b->data, line) != NULL; }

int main(void)
{
    struct fy_buf b = {0};
    fy_metrics_label(&b, "a\"b\\c\nd");
    fy_test_cond("label: quote, backslash and newline escaped", b.data && !strcmp(b.data, "\"a\\\"b\\\\c\\nd\""));
    fy_buf_reset(&b);
    fy_metrics_label(&b, "caf\xe9");
    fy_test_cond("label: a byte that is not UTF-8 is replaced", b.data && !strcmp(b.data, "\"caf\xef\xbf\xbd\""));
    fy_buf_reset(&b);

    struct fy_metrics_http *m = fy_metrics_http_series("crm", "https://user:pa55@API.Example.com:8443/v1?token=x");
    fy_test_cond("series: same integration and host, same series",
                 m && m == fy_metrics_http_series("crm", "https://api.example.com:8443/other"));
    fy_test_cond("series: another host, another series", m != fy_metrics_http_series("crm", "http://b.example.com/"));
    struct fy_metrics_http *z = fy_metrics_http_series("alpha", "http://b.example.com");
    fy_metrics_http_attempt(m, 200, 0.004, 0);
    fy_metrics_http_attempt(m, 503, 0.2, 1);
    fy_metrics_http_attempt(m, 0, 40, 1);
    fy_metrics_http_attempt(m, 404, 0.01, 0);
    fy_metrics_rate_wait(m, 1.5);
    fy_metrics_rate_wait(fy_metrics_http_series("crm", "http://b.example.com/"), 0.5);
    fy_metrics_http_attempt(NULL, 200, 1, 0);          /* not counted, no crash */
    fy_metrics_rate_wait(NULL, 1);
    fy_metrics_http_attempt(z, 302, 0.001, 0);
    fy_metrics_render_http(&b);
    const char *h = "integration=\"crm\",host=\"api.example.com:8443\"";
    char line[256];
    fy_test_cond("host: lower case, with port, no userinfo or path", has(&b, h));
    fy_test_cond("host: the password never shows", !has(&b, "pa55") && !has(&b, "user") && !has(&b, "token"));
    snprintf(line, sizeof line, "ferry_http_requests_total{%s,code=\"2xx\"} 1\n", h);
    fy_test_cond("requests: 2xx", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_requests_total{%s,code=\"5xx\"} 1\n", h);
    fy_test_cond("requests: 5xx", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_requests_total{%s,code=\"error\"} 1\n", h);
    fy_test_cond("requests: no response is error", has(&b, line));
    fy_test_cond("requests: 3xx", has(&b, "ferry_http_requests_total{integration=\"alpha\",host=\"b.example.com\",code=\"3xx\"} 1\n"));
    snprintf(line, sizeof line, "ferry_http_request_duration_seconds_bucket{%s,le=\"0.005\"} 1\n", h);
    fy_test_cond("histogram: first bucket", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_request_duration_seconds_bucket{%s,le=\"0.25\"} 3\n", h);
    fy_test_cond("histogram: buckets are cumulative", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_request_duration_seconds_bucket{%s,le=\"30\"} 3\n", h);
    fy_test_cond("histogram: 40 s is past the last bucket", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} 4\n", h);
    fy_test_cond("histogram: +Inf is every attempt", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_request_duration_seconds_count{%s} 4\n", h);
    fy_test_cond("histogram: count", has(&b, line));
    snprintf(line, sizeof line, "ferry_http_retries_total{%s} 2\n", h);
    fy_test_cond("retries", has(&b, line));
    fy_test_cond("rate-limit wait: summed over the integration's hosts",
                 has(&b, "ferry_rate_limit_wait_seconds_total{integration=\"crm\"} 2\n"));
    fy_test_cond("rate-limit wait: one sample per integration",
                 has(&b, "ferry_rate_limit_wait_seconds_total{integration=\"alpha\"} 0\n"));
    fy_test_cond("series sorted: alpha before crm",
                 b.data && strstr(b.data, "integration=\"alpha\"") < strstr(b.data, "integration=\"crm\""));

    fy_secret_add("s3cr3t-tenant");
    fy_metrics_http_attempt(fy_metrics_http_series("crm", "https://s3cr3t-tenant.example.com/x"), 200, 0.001, 0);
    fy_buf_reset(&b);
    fy_metrics_render_http(&b);
    fy_test_cond("redaction: a registered secret in a host is redacted",
                 !has(&b, "s3cr3t-tenant") && has(&b, "host=\"[REDACTED].example.com\""));
    fy_secret_clear();

    /* past the cap, new hosts are counted as one "other" */
    for (int i = 0; i < FY_METRICS_MAX_SERIES + 5; i++) {
        snprintf(line, sizeof line, "http://h%d.example.com/", i);
        fy_metrics_http_attempt(fy_metrics_http_series("many", line), 200, 0.001, 0);
    }
    fy_buf_reset(&b);
    fy_metrics_render_http(&b);
    fy_test_cond("cap: the hosts past it are 'other'", has(&b, "{integration=\"many\",host=\"other\",code=\"2xx\"}"));
    fy_metrics_reset();
    fy_buf_reset(&b);
    fy_metrics_render_http(&b);
    fy_test_cond("reset: no series left", !has(&b, "integration="));
    fy_buf_free(&b);
    return fy_test_report();
}
