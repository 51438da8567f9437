/* Unit tests for core/fy_admin.c's pieces that need no loop: the token
 * compare, the loopback rule, and refusing to listen where it must not. */
#include "fy_admin.h"
#include "fy_common.h"
#include "testhelp.h"

#include <event2/event.h>
#include <string.h>

int main(void)
{
    const char *tok = "s3cret-token";
    fy_test_cond("token: equal", fy_admin_token_equal(tok, "s3cret-token", 12));
    fy_test_cond("token: a prefix is not", !fy_admin_token_equal(tok, "s3cret-toke", 11));
    fy_test_cond("token: longer is not", !fy_admin_token_equal(tok, "s3cret-token!", 13));
    fy_test_cond("token: one bit off is not", !fy_admin_token_equal(tok, "s3cret-tokem", 12));
    fy_test_cond("token: first byte off is not", !fy_admin_token_equal(tok, "t3cret-token", 12));
    fy_test_cond("token: empty is not", !fy_admin_token_equal(tok, "", 0));
    fy_test_cond("token: a NUL inside is not the end", !fy_admin_token_equal(tok, "s3cret-token\0x", 14));

    fy_test_cond("loopback: 127.0.0.1", fy_admin_is_loopback("127.0.0.1"));
    fy_test_cond("loopback: 127.3.2.1", fy_admin_is_loopback("127.3.2.1"));
    fy_test_cond("loopback: ::1", fy_admin_is_loopback("::1"));
    fy_test_cond("loopback: localhost", fy_admin_is_loopback("localhost"));
    fy_test_cond("loopback: 0.0.0.0 is not", !fy_admin_is_loopback("0.0.0.0"));
    fy_test_cond("loopback: :: is not", !fy_admin_is_loopback("::"));
    fy_test_cond("loopback: 10.0.0.1 is not", !fy_admin_is_loopback("10.0.0.1"));
    fy_test_cond("loopback: 128.0.0.1 is not", !fy_admin_is_loopback("128.0.0.1"));
    fy_test_cond("loopback: a host name is not", !fy_admin_is_loopback("example.com"));

    struct event_base *base = event_base_new();
    char bound[64] = "", err[FY_ERRLEN] = "";
    struct fy_admin *a = fy_admin_create(NULL, base, "0.0.0.0:0", NULL, bound, sizeof bound, err, sizeof err);
    fy_test_cond("create: non-loopback without a token is refused", !a && strstr(err, "not a loopback address"));
    a = fy_admin_create(NULL, base, "0.0.0.0:0", "", bound, sizeof bound, err, sizeof err);
    fy_test_cond("create: an empty token is no token", !a);
    a = fy_admin_create(NULL, base, "127.0.0.1", NULL, bound, sizeof bound, err, sizeof err);
    fy_test_cond("create: no port is refused", !a && strstr(err, "HOST:PORT"));
    a = fy_admin_create(NULL, base, "127.0.0.1:0", NULL, bound, sizeof bound, err, sizeof err);
    fy_test_cond("create: loopback without a token binds", a && !strncmp(bound, "127.0.0.1:", 10) &&
                                                           strcmp(bound, "127.0.0.1:0"));
    fy_admin_destroy(a);
    a = fy_admin_create(NULL, base, "0.0.0.0:0", "tok", bound, sizeof bound, err, sizeof err);
    fy_test_cond("create: non-loopback with a token binds", a && !strncmp(bound, "0.0.0.0:", 8));
    fy_admin_destroy(a);
    fy_admin_destroy(NULL);
    event_base_free(base);
    return fy_test_report();
}
