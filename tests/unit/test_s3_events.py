"""Reading S3 event notifications (recorded from LocalStack, moto's server and AWS's documented
shape), alone or inside SQS messages; safe names for presigned keys. No I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.core.ingest.filenames import InvalidFilename
from functions.core.ingest.filenames import key_filename as safe_filename
from functions.core.s3.events import (
    MalformedEvent,
    is_sqs_event,
    s3_objects,
    s3_objects_in_message,
)
from functions.core.storage import UnsupportedStorageUri, _s3_location

EVENTS = Path(__file__).resolve().parents[1] / "events"
KEY = "incoming/Films été 2024+extra (v2).csv"  # spaces, non-ASCII, a literal plus, brackets
SAMPLE_ETAG = "55e59ce5e277ed39cde8f2fb0755581a"  # md5 of tests/data/movies_sample_real.csv


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize("source", ["aws", "localstack", "moto"])
def test_put_event_key_is_decoded_whatever_the_emulator_encoded(source: str) -> None:
    [obj] = s3_objects(event(f"s3_put_{source}.json"))
    assert obj.bucket == "moviedb-local"
    assert obj.key == KEY
    assert obj.etag == SAMPLE_ETAG
    assert obj.size == 4493
    assert obj.event_name == "ObjectCreated:Put"
    assert obj.uri == f"s3://moviedb-local/{KEY}"


def test_version_id_is_read_when_the_bucket_is_versioned() -> None:
    [obj] = s3_objects(event("s3_put_aws.json"))
    assert obj.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert obj.event_time is not None and obj.event_time.tzinfo is not None


@pytest.mark.parametrize("source", ["localstack", "moto"])
def test_sqs_message_body_holds_the_s3_event(source: str) -> None:
    sqs_event = event(f"sqs_s3_put_{source}.json")
    assert is_sqs_event(sqs_event)
    [record] = sqs_event["Records"]
    [obj] = s3_objects_in_message(record["body"])
    assert (obj.key, obj.etag) == (KEY, SAMPLE_ETAG)


@pytest.mark.parametrize("source", ["localstack", "moto"])
def test_test_event_gives_no_object(source: str) -> None:
    [record] = event(f"sqs_s3_test_event_{source}.json")["Records"]
    assert s3_objects_in_message(record["body"]) == []


def test_removal_events_give_no_object() -> None:
    assert s3_objects(event("s3_delete_aws.json")) == []


def test_sns_envelope_is_opened() -> None:
    s3_event = (EVENTS / "s3_put_aws.json").read_text()
    envelope = json.dumps({"Type": "Notification", "Message": s3_event, "TopicArn": "arn:t"})
    [obj] = s3_objects_in_message(envelope)
    assert obj.key == KEY


def test_direct_s3_event_is_not_an_sqs_event() -> None:
    assert not is_sqs_event(event("s3_put_aws.json"))
    assert not is_sqs_event({})


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"hello": 1}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventSource": "aws:sqs"}]}',
    ],
)
def test_malformed_message_bodies_are_named(body: str) -> None:
    with pytest.raises(MalformedEvent):
        s3_objects_in_message(body)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("movies.csv", "movies.csv"),
        ("MOVIES.CSV", "MOVIES.csv"),
        ("../../etc/passwd", "passwd.csv"),
        ("C:\\Users\\me\\films été.csv", "films été.csv"),
        ("a#b?c%d.csv", "a_b_c_d.csv"),
        ("  tabs\tand   spaces .csv", "tabs and spaces.csv"),
        ("export.txt", "export.txt.csv"),
        (".csv", "csv.csv"),
        ("x" * 300 + ".csv", "x" * 116 + ".csv"),
    ],
)
def test_safe_filename_keeps_a_readable_csv_name(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


@pytest.mark.parametrize("given", ["", "/", "..", "///..", "???", " _ "])
def test_safe_filename_refuses_names_with_nothing_left(given: str) -> None:
    with pytest.raises(InvalidFilename):
        safe_filename(given)


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("s3://b/incoming/a b.csv", ("b", "incoming/a b.csv")),
        ("s3://b/incoming/a#1?x=%41.csv", ("b", "incoming/a#1?x=%41.csv")),
    ],
)
def test_s3_uri_keeps_the_key_as_it_is(uri: str, location: tuple[str, str]) -> None:
    assert _s3_location(uri) == location


@pytest.mark.parametrize("uri", ["s3://bucket-only", "s3:///key", "file:///x.csv"])
def test_s3_uri_without_bucket_or_key_is_refused(uri: str) -> None:
    with pytest.raises(UnsupportedStorageUri):
        _s3_location(uri)
