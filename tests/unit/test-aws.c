/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "aws/s3.h"
#include "strbuf.h"
#include "tap.h"

static void clear_env(void) {
        unsetenv("AWS_ENDPOINT_URL");
        unsetenv("AWS_ENDPOINT_URL_S3");
        unsetenv("AWS_ENDPOINT_URL_ROUTE_53");
        unsetenv("AWS_ENDPOINT_URL_CLOUDWATCH");
        unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
        unsetenv("AWS_REGION");
        unsetenv("AWS_DEFAULT_REGION");
}

static char *endpoint(const struct aws_service *s, const char *region, const char *override, bool fips, bool *custom) {
        char *e = NULL;
        int r = aws_endpoint(s, region, override, fips, &e, custom);

        return r < 0 ? strdup_printf("error %d", r) : e;
}

static void test_endpoints(void) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL, *g = NULL, *h = NULL,
                            *i = NULL, *j = NULL;
        bool custom = true;

        clear_env();
        is_str(a = endpoint(&aws_s3, "eu-west-1", NULL, false, &custom), "https://s3.eu-west-1.amazonaws.com",
               "S3's own endpoint");
        ok(!custom, "AWS's own endpoint is not custom");
        is_str(b = endpoint(&aws_cloudwatch, "cn-north-1", NULL, false, NULL),
               "https://monitoring.cn-north-1.amazonaws.com.cn", "China's partition");
        is_str(c = endpoint(&aws_logs, "us-east-1", NULL, true, NULL), "https://logs-fips.us-east-1.amazonaws.com",
               "FIPS");
        is_str(d = endpoint(&aws_route53, "eu-west-1", NULL, false, NULL), "https://route53.amazonaws.com",
               "Route 53 is global");
        is_str(e = endpoint(&aws_s3, "eu-west-1", "http://127.0.0.1:9000/", false, &custom), "http://127.0.0.1:9000",
               "the config's endpoint, its trailing '/' dropped");
        ok(custom, "a given endpoint is custom");
        setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
        is_str(f = endpoint(&aws_s3, "eu-west-1", "http://127.0.0.1:9000", false, NULL), "http://127.0.0.1:1",
               "AWS_ENDPOINT_URL wins over the config");
        setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2", 1);
        is_str(g = endpoint(&aws_s3, "eu-west-1", "http://127.0.0.1:9000", false, NULL), "http://127.0.0.1:2",
               "AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL");
        setenv("AWS_ENDPOINT_URL_ROUTE_53", "http://[::1]:3", 1);
        is_str(h = endpoint(&aws_route53, "eu-west-1", NULL, false, NULL), "http://[::1]:3",
               "the service's id has its space as '_': AWS_ENDPOINT_URL_ROUTE_53");
        setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
        is_str(i = endpoint(&aws_s3, "eu-west-1", "http://127.0.0.1:9000", false, NULL), "http://127.0.0.1:9000",
               "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ignores the environment's, not the config's");
        clear_env();
        is_str(j = endpoint(&aws_s3, "eu-west-1", "http://127.0.0.1:9000/path", false, NULL), "error -22",
               "an endpoint with a path is refused");

        setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
        is_str(aws_region(NULL, "us-east-2"), "ap-south-1", "AWS_DEFAULT_REGION before the instance's");
        setenv("AWS_REGION", "eu-north-1", 1);
        is_str(aws_region(NULL, "us-east-2"), "eu-north-1", "AWS_REGION before AWS_DEFAULT_REGION");
        is_str(aws_region("sa-east-1", "us-east-2"), "sa-east-1", "the config before all");
        clear_env();
        is_str(aws_region(NULL, "us-east-2"), "us-east-2", "else the instance's");
        ok(aws_region(NULL, NULL) == NULL, "none at all");
}

static void test_client(void) {
        struct aws_client c;

        clear_env();
        is_int(aws_client_init(&c, &aws_route53, "eu-west-1", NULL, false, NULL), 0, "a Route 53 client");
        is_str(c.region, "us-east-1", "Route 53 is signed for us-east-1");
        is_str(c.host, "route53.amazonaws.com", "Host header");
        aws_client_done(&c);
        is_int(aws_client_init(&c, &aws_s3, "us-east-1", NULL, false, NULL), 0, "an S3 client");
        is_int(aws_client_set_region(&c, "eu-central-1"), 0, "moved to the bucket's region");
        is_str(c.endpoint, "https://s3.eu-central-1.amazonaws.com", "the endpoint follows");
        is_str(c.region, "eu-central-1", "and the signing region");
        aws_client_done(&c);
        is_int(aws_client_init(&c, &aws_s3, "us-east-1", "http://127.0.0.1:5000", false, NULL), 0,
               "an S3 client at a given endpoint");
        is_int(aws_client_set_region(&c, "eu-central-1"), 0, "moved to the bucket's region");
        is_str(c.endpoint, "http://127.0.0.1:5000", "a given endpoint stays");
        is_str(c.region, "eu-central-1", "the signing region follows");
        aws_client_done(&c);
}

static void test_xml(void) {
        static const char doc[] =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<ListHostedZonesByNameResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
                "<HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>example.com.</Name></HostedZone>"
                "<HostedZone><Id>/hostedzone/Z2</Id><Name>sub.example.com.</Name></HostedZone></HostedZones>"
                "<IsTruncated>false</IsTruncated></ListHostedZonesByNameResponse>";
        _cleanup_(xml_freep) struct xml_node *x = NULL, *bomb = NULL;
        const struct xml_node *z;
        unsigned n = 0;
        _cleanup_free_ char *esc = NULL;
        static const char laughs[] = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b "
                                     "\"&a;&a;&a;&a;\">]><l>&b;</l>";

        is_int(xml_parse(doc, strlen(doc), &x), 0, "an answer with a namespace parses");
        is_str(x->name, "ListHostedZonesByNameResponse", "the namespace is dropped from names");
        is_str(xml_text(x, "IsTruncated"), "false", "a child's text");
        for (z = xml_path(x, "HostedZones/HostedZone"); z; z = xml_next(z))
                n++;
        is_int(n, 2, "siblings of one name");
        is_str(xml_text(xml_next(xml_path(x, "HostedZones/HostedZone")), "Name"), "sub.example.com.",
               "the second one's name");
        ok(xml_text(x, "HostedZones/Nope") == NULL, "an absent path");
        is_int(xml_parse("<a><b></a>", 10, &bomb), -EBADMSG, "malformed XML is refused");
        is_int(xml_parse(laughs, strlen(laughs), &bomb), -EBADMSG, "entity declarations are refused");
        is_int(xml_parse("", 0, &bomb), -EBADMSG, "nothing is not a document");
        {
                _cleanup_free_ char *deep = malloc(70 * 3 + 70 * 4 + 1);
                char *p = deep;

                for (int k = 0; k < 70; k++)
                        p = stpcpy(p, "<a>");
                for (int k = 0; k < 70; k++)
                        p = stpcpy(p, "</a>");
                is_int(xml_parse(deep, strlen(deep), &bomb), -EBADMSG, "70 levels are too deep");
        }
        is_str(esc = xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;", "escaping");
}

static void test_errors(void) {
        char code[64], msg[128];

        is_int(aws_error_code(NULL,
                              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>"
                              "<Message>At least one of the pre-conditions you specified did not hold</Message>"
                              "<Condition>If-Match</Condition></Error>",
                              code, sizeof(code), msg, sizeof(msg)),
               0, "S3's error");
        is_str(code, "PreconditionFailed", "its code");
        is_str(msg, "At least one of the pre-conditions you specified did not hold", "its message");
        aws_error_code(NULL,
                       "<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender"
                       "</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found with ID: Z9</Message>"
                       "</Error><RequestId>x</RequestId></ErrorResponse>",
                       code, sizeof(code), msg, sizeof(msg));
        is_str(code, "NoSuchHostedZone", "Route 53's error");
        aws_error_code(NULL, "{\"__type\":\"com.amazonaws.logs#ResourceNotFoundException\",\"message\":\"gone\"}", code,
                       sizeof(code), msg, sizeof(msg));
        is_str(code, "ResourceNotFoundException", "a JSON error's type without its namespace");
        is_str(msg, "gone", "and its message");
        aws_error_code("Throttling;Sender", "{}", code, sizeof(code), msg, sizeof(msg));
        is_str(code, "Throttling", "the query-compatible header");
        is_int(aws_error_code(NULL, "<html>oops", code, sizeof(code), msg, sizeof(msg)), -ENOENT,
               "no code in an HTML page");
        ok(aws_is_skew_error("RequestTimeTooSkewed", ""), "S3's skew error");
}

static char *url(const char *u) {
        _cleanup_free_ char *b = NULL, *p = NULL, *e = NULL;
        int r = s3_url_parse(u, &b, &p, &e);

        return r < 0 ? strdup_printf("error %d: %s", r, e ? e : "") : strdup_printf("%s|%s", b, p);
}

static void test_s3_url(void) {
        static const char *const bad[] = {
                "s3://",
                "s3://ab",
                "s3://Bucket/p",
                "s3://bucket_1/p",
                "s3://-bucket/p",
                "s3://bucket-/p",
                "s3://my..bucket/p",
                "s3://192.168.1.1/p",
                "s3://xn--bucket/p",
                "s3://sthree-b/p",
                "s3://b-s3alias/p",
                "s3://dir--usw2-az1--x-s3/p",
                "s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "https://bucket/p",
                "S3://bucket/p",
                "s3://bucket//p",
                "s3://bucket/a//b",
                "s3://bucket/a/../b",
                "s3://bucket/./b",
                "s3://bucket/a\tb",
                "s3://bucket/a\x7f",
                "",
        };
        char big[1100];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *e = NULL;
                _cleanup_free_ char *got = url(bad[i]);
                ok(strneq(got, "error -22: ", 11) && strlen(got) > 12, "'%s' is refused: %s", bad[i], got);
        }
        {
                _cleanup_free_ char *a = url("s3://my-bucket/fleet/web"), *b = url("s3://my-bucket/fleet/web/"),
                                    *c = url("s3://my-bucket"), *d = url("s3://my-bucket/"),
                                    *e = url("s3://my.bucket.example/a-b_c~(1)/x///"), *f = url("s3://abc/p");
                is_str(a, "my-bucket|fleet/web/", "s3://b/p: one trailing '/'");
                is_str(b, "my-bucket|fleet/web/", "s3://b/p/ is the same");
                is_str(c, "my-bucket|", "s3://b: no prefix");
                is_str(d, "my-bucket|", "s3://b/: no prefix");
                is_str(e, "my.bucket.example|a-b_c~(1)/x/", "dots in the bucket, trailing '/'s folded");
                is_str(f, "abc|p/", "3 characters is enough");
        }
        memset(big, 'a', sizeof(big) - 1);
        memcpy(big, "s3://b12/", 9);
        big[sizeof(big) - 1] = 0;
        {
                _cleanup_free_ char *g = url(big);
                ok(strneq(g, "error -22", 9), "an over-long URL is refused");
        }
        is_int(s3_url_parse("s3://bucket/p", NULL, NULL, NULL), 0, "outputs are optional");
        is_int(s3_url_parse("s3://BAD/p", NULL, NULL, NULL), -EINVAL, "also on failure");
}

static void test_s3_list_parse(void) {
        static const char page[] =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
                "<Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
                "<Contents><Key>p/a &amp; b</Key><ETag>&quot;x&quot;</ETag></Contents>"
                "<Contents><Key>p/c</Key></Contents>"
                "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
                "</ListBucketResult>";
        static const char outside[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                      "<Contents><Key>q/x</Key></Contents></ListBucketResult>";
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_free_ char *token = NULL, *t2 = NULL;
        size_t n = 0;
        bool more = false;

        is_int(s3_list_parse(page, strlen(page), "p/", 100, &keys, &n, &more, &token), 0, "a page");
        is_int(n, 2, "two keys");
        is_str(keys[0], "p/a & b", "the first, unescaped");
        is_str(keys[1], "p/c", "the second");
        ok(more, "more to come");
        is_str(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", "the token");
        is_int(s3_list_parse(page, strlen(page), "p/", 3, &keys, &n, &more, &t2), 0, "a page up to a maximum");
        is_int(n, 3, "only as many keys as asked for");
        is_int(s3_list_parse(outside, strlen(outside), "p/", 100, &keys, &n, &more, &t2), -EBADMSG,
               "a key outside the prefix is refused");
        is_int(s3_list_parse("<Error/>", 8, "", 100, &keys, &n, &more, &t2), -EBADMSG, "not a listing");
        is_int(s3_list_parse("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", 67, "", 100, &keys,
                             &n, &more, &t2),
               -EBADMSG, "truncated without a token");
}

static void test_s3_client(void) {
        struct s3 s;

        clear_env();
        is_int(s3_init(&s, "my-bucket", "eu-west-1", NULL, NULL, NULL), 0, "an S3 client on AWS");
        ok(!s.path_style, "virtual-hosted");
        is_str(s.client.host, "my-bucket.s3.eu-west-1.amazonaws.com", "the bucket is in the Host");
        is_str(s.client.endpoint, "https://my-bucket.s3.eu-west-1.amazonaws.com", "and in the endpoint");
        s3_done(&s);
        is_int(s3_init(&s, "my.bucket", "eu-west-1", NULL, NULL, NULL), 0, "a bucket with dots");
        ok(s.path_style, "is path-style (AWS's certificate covers one label)");
        is_str(s.client.host, "s3.eu-west-1.amazonaws.com", "the service's Host");
        s3_done(&s);
        is_int(s3_init(&s, "my-bucket", "eu-west-1", "http://127.0.0.1:5000", "key-1", NULL), 0,
               "an S3 client at a given endpoint");
        ok(s.path_style, "path-style");
        is_str(s.client.host, "127.0.0.1:5000", "the endpoint's Host");
        is_str(s.kms_key_id, "key-1", "the KMS key");
        s3_done(&s);
        is_int(s3_init(&s, "My_Bucket", "eu-west-1", NULL, NULL, NULL), -EINVAL, "a bad bucket name");
        is_int(s3_init(&s, "my-bucket", NULL, NULL, NULL, NULL), -EINVAL, "no region");
}

static void test_sigv4_s3_path(void) {
        struct aws_credentials creds = {.access_key_id = (char *) "AKIDEXAMPLE",
                                        .secret_access_key = (char *) "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
        char *h3[] = {(char *) "Host: b.s3.us-east-1.amazonaws.com", NULL};
        struct sigv4_request req = {.method = "GET", .target = "/a%20b//c/./d%2Fe~?prefix=x%2Fy", .headers = h3};
        struct sigv4_result res = {0};

        is_int(sigv4_sign(&req, &creds, "us-east-1", "s3", 1440938160, &res), 0, "an S3 request signs");
        ok(strneq(res.canonical_request, "GET\n/a%20b//c/./d%2Fe~\nprefix=x%2Fy\n", 36),
           "S3's path is as sent: not normalized nor encoded again");
        sigv4_result_done(&res);
        is_int(sigv4_sign(&req, &creds, "us-east-1", "route53", 1440938160, &res), 0, "another service's signs");
        ok(strneq(res.canonical_request, "GET\n/a%2520b/c/d%252Fe~\n", 24),
           "other services' paths are normalized and encoded twice");
        sigv4_result_done(&res);
}

int main(void) {
        test_endpoints();
        test_client();
        test_xml();
        test_errors();
        test_s3_url();
        test_s3_list_parse();
        test_s3_client();
        test_sigv4_s3_path();
        return tap_done();
}
