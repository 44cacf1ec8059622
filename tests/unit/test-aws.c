/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
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

int main(void) {
        test_endpoints();
        test_client();
        test_xml();
        test_errors();
        return tap_done();
}
