/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme-internal.h"
#include "aws/route53.h"
#include "strbuf.h"
#include "tap.h"

static void test_zone_id(void) {
        char *id = NULL;

        is_int(route53_zone_id_parse("Z0123456789ABCDEFGHIJ", &id), 0, "Z... is a zone ID");
        is_str(id, "Z0123456789ABCDEFGHIJ", "kept as it is");
        free(id);
        id = NULL;
        is_int(route53_zone_id_parse("/hostedzone/Z2FDTNDATAQYW2", &id), 0, "/hostedzone/Z... is one too");
        is_str(id, "Z2FDTNDATAQYW2", "without its /hostedzone/");
        free(id);
        id = NULL;
        is_int(route53_zone_id_parse("", &id), -EINVAL, "empty is not");
        is_int(route53_zone_id_parse("/hostedzone/", &id), -EINVAL, "nor /hostedzone/ alone");
        is_int(route53_zone_id_parse("z2fdtndataqyw2", &id), -EINVAL, "nor lowercase");
        is_int(route53_zone_id_parse("Z2/../change", &id), -EINVAL, "nor a path");
        is_int(route53_zone_id_parse("/change/C123", &id), -EINVAL, "nor a change ID's path");
        is_int(route53_zone_id_parse("Z123456789012345678901234567890123", &id), -EINVAL, "nor 34 characters");
        ok(id == NULL, "nothing returned on failure");
}

#define ZONE(i, n, p) \
        { .id = (char *) (i), .name = (char *) (n), .private_zone = (p) }

static void test_pick(void) {
        const struct route53_zone zones[] = {
                ZONE("Z1", "example.com", false),       ZONE("Z2", "sub.example.com", false),
                ZONE("Z3", "b.sub.example.com", true),  ZONE("Z4", "ample.com", false),
                ZONE("Z5", "other.example.com", false),
        };
        const struct route53_zone twins[] = {ZONE("Z1", "example.com", false), ZONE("Z2", "example.com", false),
                                             ZONE("Z9", "example.com", true)};
        size_t i = 99;

        is_int(route53_pick_zone(zones, 5, "_acme-challenge.a.sub.example.com", &i), 0, "a zone for a deep name");
        is_str(zones[i].id, "Z2", "the most specific suffix (sub.example.com, not example.com)");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.b.sub.example.com", &i), 0, "a private zone's name");
        is_str(zones[i].id, "Z2", "a private zone is never chosen: the CA asks the public DNS");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.example.com.", &i), 0, "with a trailing dot");
        is_str(zones[i].id, "Z1", "the apex's zone");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.WWW.Example.COM", &i), 0, "any case");
        is_str(zones[i].id, "Z1", "case ignored");
        is_int(route53_pick_zone(zones, 5, "sub.example.com", &i), 0, "the zone's own name");
        is_str(zones[i].id, "Z2", "is held by it");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.notexample.com", &i), -ENOENT,
               "suffixes count at label boundaries only (notexample.com is not in example.com)");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.example.org", &i), -ENOENT, "no zone");
        is_int(route53_pick_zone(zones, 5, "_acme-challenge.sample.com", &i), -ENOENT,
               "nor in ample.com (label boundary)");
        is_int(route53_pick_zone(zones, 0, "example.com", &i), -ENOENT, "no zones at all");
        is_int(route53_pick_zone(twins, 3, "_acme-challenge.example.com", &i), -ENOTUNIQ,
               "two public zones of one name: ambiguous");
        is_int(route53_pick_zone(twins + 1, 2, "_acme-challenge.example.com", &i), 0, "one public and one private");
        is_str(twins[1 + i].id, "Z2", "the public one");
}

static void test_parse(void) {
        static const char page[] =
                "<?xml version=\"1.0\"?>\n"
                "<ListHostedZonesByNameResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
                "<HostedZones><HostedZone><Id>/hostedzone/Z1ABC</Id><Name>Example.COM.</Name>"
                "<CallerReference>x</CallerReference><Config><PrivateZone>false</PrivateZone></Config>"
                "</HostedZone><HostedZone><Id>/hostedzone/Z2DEF</Id><Name>example.com.</Name>"
                "<Config><Comment>vpc</Comment><PrivateZone>true</PrivateZone></Config></HostedZone>"
                "</HostedZones><DNSName>example.com.</DNSName><IsTruncated>true</IsTruncated>"
                "<NextDNSName>sub.example.com.</NextDNSName><NextHostedZoneId>Z3GHI</NextHostedZoneId>"
                "<MaxItems>2</MaxItems></ListHostedZonesByNameResponse>";
        static const char bad_id[] =
                "<ListHostedZonesByNameResponse><HostedZones><HostedZone><Id>/hostedzone/z&amp;</Id>"
                "<Name>a.</Name></HostedZone></HostedZones></ListHostedZonesByNameResponse>";
        struct route53_zone *z = NULL;
        size_t n = 0;
        char *next_name = NULL, *next_id = NULL;

        is_int(route53_parse_zones(page, strlen(page), &z, &n, &next_name, &next_id), 0,
               "ListHostedZonesByName's answer");
        is_int(n, 2, "two zones");
        is_str(z[0].id, "Z1ABC", "the ID without /hostedzone/");
        is_str(z[0].name, "example.com", "the name lowercase, without the trailing dot");
        ok(!z[0].private_zone && z[1].private_zone, "private or not");
        is_str(next_name, "sub.example.com.", "where the next page starts");
        is_str(next_id, "Z3GHI", "and its zone");
        route53_zones_free(z, n);
        free(next_name);
        free(next_id);
        is_int(route53_parse_zones(bad_id, strlen(bad_id), &z, &n, &next_name, &next_id), -EBADMSG,
               "a zone ID that is not one");
        is_int(route53_parse_zones("<Error/>", 8, &z, &n, &next_name, &next_id), -EBADMSG, "not the answer");
}

static void test_body(void) {
        char v1[] = "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM", v2[] = "Zz9-_abc", quote[] = "a\"b";
        char *values[] = {v1, v2, NULL}, *bad[] = {quote, NULL}, *none[] = {NULL};
        _cleanup_free_ char *up = NULL, *del = NULL;
        char *b = NULL;

        is_int(route53_change_body("UPSERT", "_acme-challenge.example.com", values, 10, &up), 0, "an UPSERT");
        is_str(up,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
               "<ChangeBatch><Comment>kiln ACME dns-01</Comment><Changes><Change><Action>UPSERT</Action>"
               "<ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>10</TTL>"
               "<ResourceRecords>"
               "<ResourceRecord><Value>&quot;lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM&quot;</Value>"
               "</ResourceRecord>"
               "<ResourceRecord><Value>&quot;Zz9-_abc&quot;</Value></ResourceRecord>"
               "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
               "</ChangeResourceRecordSetsRequest>\n",
               "one change, one record set: every value quoted, the name absolute, a short TTL");
        is_int(route53_change_body("DELETE", "_acme-challenge.example.com.", values, 10, &del), 0, "a DELETE");
        ok(strstr(del, "<Action>DELETE</Action>") && strstr(del, "<Name>_acme-challenge.example.com.</Name>") &&
                   strstr(up, strstr(del, "<ResourceRecordSet>")),
           "names the record set exactly as the UPSERT did");
        is_int(route53_change_body("UPSERT", "x", bad, 10, &b), -EINVAL, "a value with a quote is refused");
        is_int(route53_change_body("UPSERT", "x", none, 10, &b), -EINVAL, "no value is refused");
        ok(b == NULL, "nothing returned");
}

static void test_txt_value(void) {
        _cleanup_free_ char *v = NULL;

        /* RFC 8555's example token and thumbprint (sections 8.1, 8.4). */
        is_int(dns01_txt_value("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                               "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI", &v),
               0, "the dns-01 TXT value");
        is_str(v, "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM", "base64url(SHA-256(token.thumbprint)), no padding");
}

int main(void) {
        test_zone_id();
        test_pick();
        test_parse();
        test_body();
        test_txt_value();
        return tap_done();
}
