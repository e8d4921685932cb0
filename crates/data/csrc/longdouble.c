/* Long-double helpers mirroring Redis's string2ld / ld2string (LD_STR_HUMAN). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        isnan(value))
        return 0;
    if (dp) *dp = value;
    return 1;
}

static int ld2string(char *buf, size_t len, long double value) {
    size_t l = 0;
    if (isinf(value)) {
        if (len < 5) return 0;
        if (value > 0) { memcpy(buf, "inf", 3); l = 3; }
        else { memcpy(buf, "-inf", 4); l = 4; }
    } else {
        l = snprintf(buf, len, "%.17Lf", value);
        if (l + 1 > len) return 0;
        if (strchr(buf, '.') != NULL) {
            char *p = buf + l - 1;
            while (*p == '0') { p--; l--; }
            if (*p == '.') l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    }
    buf[l] = '\0';
    return (int)l;
}

/* Returns 1 ok (result in out, length in *outlen), 0 = current value not a float,
 * 2 = increment not a float, 3 = NaN or Infinity. cur may be NULL (missing key = 0). */
int shoal_incrbyfloat(const char *cur, size_t curlen, const char *incr, size_t incrlen,
                      char *out, size_t outcap, size_t *outlen) {
    long double value = 0, inc;
    if (cur && !string2ld(cur, curlen, &value)) return 0;
    if (!string2ld(incr, incrlen, &inc)) return 2;
    value += inc;
    if (isnan(value) || isinf(value)) return 3;
    int l = ld2string(out, outcap, value);
    if (l <= 0) return 3;
    *outlen = (size_t)l;
    return 1;
}

/* Validates a long double the way Redis's getLongDoubleFromObject does. */
int shoal_is_long_double(const char *s, size_t slen) {
    return string2ld(s, slen, NULL);
}
