/* Unit tests for core/fy_secret.c (every form of a registered secret is
 * redacted) and fy_http_redact_url (credentials in URLs). */
#include "fy_buf.h"
#include "fy_common.h"
#include "fy_http.h"
#include "fy_log.h"
#include "fy_secret.h"
#include "testhelp.h"

#include <stdio.h>
#include <string.h>

/* fy_redact(text) equals want. */
static int redacts(const char *text, const char *want) {
    struct fy_buf b = {0};
    fy_buf_puts(&b, text);
    fy_redact(&b);
    int ok = strcmp(b.data, want) == 0;
    if (!ok) printf("  redact(\"%s\") = \"%s\"; want \"%s\"\n", text, b.data, want);
    fy_buf_free(&b);
    return ok;
}

static int url_redacts(const char *url, const char *want) {
    char out[512];
    fy_http_redact_url(url, out, sizeof out);
    int ok = strcmp(out, want) == 0;
    if (!ok) printf("  redact_url(\"%s\") = \"%s\"; want \"%s\"\n", url, out, want);
    return ok;
}

int main(void) {
    FILE *devnull = fopen("/dev/null", "w");
    fy_log_setup(FY_LOG_INFO, FY_LOG_JSON, devnull);

    /* p"a\ss w/rd: a quote, a backslash, a space and a slash */
    fy_test_cond("a secret registers", fy_secret_add("p\"a\\ss w/rd") == FY_OK);
    fy_test_cond("raw", redacts("x p\"a\\ss w/rd y", "x [REDACTED] y"));
    fy_test_cond("JSON-escaped", redacts("{\"k\":\"p\\\"a\\\\ss w/rd\"}", "{\"k\":\"[REDACTED]\"}"));
    fy_test_cond("JSON with \\/ and \\u0022", redacts("p\\u0022a\\\\ss w\\/rd", "[REDACTED]"));
    fy_test_cond("percent, upper case", redacts("?q=p%22a%5Css%20w%2Frd&x", "?q=[REDACTED]&x"));
    fy_test_cond("percent, lower case", redacts("?q=p%22a%5css%20w%2frd&x", "?q=[REDACTED]&x"));
    fy_test_cond("form encoding", redacts("q=p%22a%5Css+w%2Frd", "q=[REDACTED]"));
    fy_test_cond("every byte escaped", redacts("%70%22%61%5c%73%73%20%77%2f%72%64", "[REDACTED]"));
    fy_test_cond("twice in a row", redacts("p\"a\\ss w/rdp\"a\\ss w/rd", "[REDACTED][REDACTED]"));
    fy_test_cond("a near miss stays", redacts("p\"a\\ss w/rX %zz %", "p\"a\\ss w/rX %zz %"));

    fy_test_cond("a second secret", fy_secret_add("tok-9f8e7d6c5b4a") == FY_OK);
    /* base64("tok-9f8e7d6c5b4a") = dG9rLTlmOGU3ZDZjNWI0YQ== */
    fy_test_cond("base64, padded", redacts("Basic dG9rLTlmOGU3ZDZjNWI0YQ==", "Basic [REDACTED]Q=="));
    fy_test_cond("base64, unpadded", redacts("dG9rLTlmOGU3ZDZjNWI0YQ.", "[REDACTED]Q."));
    /* base64("u:tok-9f8e7d6c5b4a"), ("us:tok-..."), ("use:tok-..."): the 3 alignments */
    fy_test_cond("base64 at offset 2", redacts("Basic dTp0b2stOWY4ZTdkNmM1YjRh", "Basic dTp[REDACTED]"));
    fy_test_cond("base64 at offset 3", redacts("Basic dXM6dG9rLTlmOGU3ZDZjNWI0YQ==", "Basic dXM6[REDACTED]Q=="));
    fy_test_cond("base64 at offset 4", redacts("Basic dXNlOnRvay05ZjhlN2Q2YzViNGE=", "Basic dXNlOn[REDACTED]E="));
    /* base64("\xfb\xffsecret-xyz") has '+' and '/', URL-safe '-' and '_' */
    fy_test_cond("a binary-ish secret", fy_secret_add("\xfb\xff\xfe-key-value") == FY_OK);
    fy_test_cond("base64 standard", redacts("+//+LWtleS12YWx1ZQ==", "[REDACTED]Q=="));
    fy_test_cond("base64 URL-safe", redacts("-__-LWtleS12YWx1ZQ", "[REDACTED]Q"));
    fy_test_cond("base64 percent-encoded", redacts("a=%2B%2F%2F%2BLWtleS12YWx1ZQ%3D%3D", "a=[REDACTED]Q%3D%3D"));

    fy_test_cond("found: percent form", fy_secret_found("c=tok%2D9f8e7d6c5b4a", 20));
    fy_test_cond("found: nothing", !fy_secret_found("{\"page\":3}", 10));
    fy_test_cond("a 3-byte secret is refused", fy_secret_add("abc") == FY_ERR);
    fy_test_cond("and not redacted", redacts("abc", "abc"));

    fy_test_cond("userinfo", url_redacts("https://user:pw@host/x?a=1", "https://[REDACTED]@host/x?a=1"));
    fy_test_cond("userinfo with @ in the password",
                 url_redacts("https://user:p@ss@host/p", "https://[REDACTED]@host/p"));
    fy_test_cond("userinfo with / in the password",
                 url_redacts("https://user:p/ss@host/p", "https://[REDACTED]@host/p"));
    fy_test_cond("userinfo, no path", url_redacts("https://u:p@ss@host", "https://[REDACTED]@host"));
    fy_test_cond("userinfo, no scheme", url_redacts("u:p@ss@host:80/x", "[REDACTED]@host:80/x"));
    fy_test_cond("an @ in the path is no userinfo",
                 url_redacts("https://host/users/a@b.com?x=1", "https://host/users/a@b.com?x=1"));
    fy_test_cond("an @ in the query is no userinfo",
                 url_redacts("https://host/p?email=a@b.com", "https://host/p?email=a@b.com"));
    fy_test_cond("a port is no password", url_redacts("http://host:8080/a@b", "http://host:8080/a@b"));
    fy_test_cond("named query parameter", url_redacts("https://h/p?api_key=zzz&page=2", "https://h/p?api_key=REDACTED&page=2"));

    fy_secret_clear();
    fclose(devnull);
    return fy_test_report();
}
