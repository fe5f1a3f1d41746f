#!/usr/bin/env python3
"""Writes the golden protobuf messages of tests/ingest_remote_write_golden.rs with Google's
reference protobuf runtime (`pip install protobuf`), from a schema built here field by field
after prompb/types.proto and prompb/remote.proto of the Prometheus repository. No protoc.

Run once; the .pb files are checked in and never regenerated (they pin the field numbers).
Output is the raw protobuf (no snappy): the tests compress it themselves.
"""
import os
import struct

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def msg(fd, name, fields, enums=(), oneofs=()):
    m = fd.message_type.add(name=name)
    for o in oneofs:
        m.oneof_decl.add(name=o)
    for ename, values in enums:
        e = m.enum_type.add(name=ename)
        for vname, num in values:
            e.value.add(name=vname, number=num)
    for fname, num, ftype, label, type_name, *oneof in fields:
        f = m.field.add(name=fname, number=num, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof:
            f.oneof_index = oneof[0]


fd = descriptor_pb2.FileDescriptorProto(name="prompb.proto", package="prometheus", syntax="proto3")
msg(fd, "Sample", [("value", 1, F.TYPE_DOUBLE, OPT, None), ("timestamp", 2, F.TYPE_INT64, OPT, None)])
msg(fd, "Label", [("name", 1, F.TYPE_STRING, OPT, None), ("value", 2, F.TYPE_STRING, OPT, None)])
msg(fd, "Exemplar", [
    ("labels", 1, F.TYPE_MESSAGE, REP, ".prometheus.Label"),
    ("value", 2, F.TYPE_DOUBLE, OPT, None),
    ("timestamp", 3, F.TYPE_INT64, OPT, None),
])
msg(fd, "BucketSpan", [("offset", 1, F.TYPE_SINT32, OPT, None), ("length", 2, F.TYPE_UINT32, OPT, None)])
msg(fd, "Histogram", [
    ("count_int", 1, F.TYPE_UINT64, OPT, None, 0),
    ("count_float", 2, F.TYPE_DOUBLE, OPT, None, 0),
    ("sum", 3, F.TYPE_DOUBLE, OPT, None),
    ("schema", 4, F.TYPE_SINT32, OPT, None),
    ("zero_threshold", 5, F.TYPE_DOUBLE, OPT, None),
    ("zero_count_int", 6, F.TYPE_UINT64, OPT, None, 1),
    ("zero_count_float", 7, F.TYPE_DOUBLE, OPT, None, 1),
    ("negative_spans", 8, F.TYPE_MESSAGE, REP, ".prometheus.BucketSpan"),
    ("negative_deltas", 9, F.TYPE_SINT64, REP, None),
    ("negative_counts", 10, F.TYPE_DOUBLE, REP, None),
    ("positive_spans", 11, F.TYPE_MESSAGE, REP, ".prometheus.BucketSpan"),
    ("positive_deltas", 12, F.TYPE_SINT64, REP, None),
    ("positive_counts", 13, F.TYPE_DOUBLE, REP, None),
    ("reset_hint", 14, F.TYPE_ENUM, OPT, ".prometheus.Histogram.ResetHint"),
    ("timestamp", 15, F.TYPE_INT64, OPT, None),
    ("custom_values", 16, F.TYPE_DOUBLE, REP, None),
], enums=[("ResetHint", [("UNKNOWN", 0), ("YES", 1), ("NO", 2), ("GAUGE", 3)])],
    oneofs=["count", "zero_count"])
msg(fd, "TimeSeries", [
    ("labels", 1, F.TYPE_MESSAGE, REP, ".prometheus.Label"),
    ("samples", 2, F.TYPE_MESSAGE, REP, ".prometheus.Sample"),
    ("exemplars", 3, F.TYPE_MESSAGE, REP, ".prometheus.Exemplar"),
    ("histograms", 4, F.TYPE_MESSAGE, REP, ".prometheus.Histogram"),
])
msg(fd, "MetricMetadata", [
    ("type", 1, F.TYPE_ENUM, OPT, ".prometheus.MetricMetadata.MetricType"),
    ("metric_family_name", 2, F.TYPE_STRING, OPT, None),
    ("help", 4, F.TYPE_STRING, OPT, None),
    ("unit", 5, F.TYPE_STRING, OPT, None),
], enums=[("MetricType", [("UNKNOWN", 0), ("COUNTER", 1), ("GAUGE", 2), ("HISTOGRAM", 3),
                          ("GAUGEHISTOGRAM", 4), ("SUMMARY", 5), ("INFO", 6), ("STATESET", 7)])])
msg(fd, "WriteRequest", [
    ("timeseries", 1, F.TYPE_MESSAGE, REP, ".prometheus.TimeSeries"),
    ("metadata", 3, F.TYPE_MESSAGE, REP, ".prometheus.MetricMetadata"),
])
msg(fd, "LabelMatcher", [
    ("type", 1, F.TYPE_ENUM, OPT, ".prometheus.LabelMatcher.Type"),
    ("name", 2, F.TYPE_STRING, OPT, None),
    ("value", 3, F.TYPE_STRING, OPT, None),
], enums=[("Type", [("EQ", 0), ("NEQ", 1), ("RE", 2), ("NRE", 3)])])
msg(fd, "ReadHints", [
    ("step_ms", 1, F.TYPE_INT64, OPT, None),
    ("func", 2, F.TYPE_STRING, OPT, None),
    ("start_ms", 3, F.TYPE_INT64, OPT, None),
    ("end_ms", 4, F.TYPE_INT64, OPT, None),
    ("grouping", 5, F.TYPE_STRING, REP, None),
    ("by", 6, F.TYPE_BOOL, OPT, None),
    ("range_ms", 7, F.TYPE_INT64, OPT, None),
])
msg(fd, "Query", [
    ("start_timestamp_ms", 1, F.TYPE_INT64, OPT, None),
    ("end_timestamp_ms", 2, F.TYPE_INT64, OPT, None),
    ("matchers", 3, F.TYPE_MESSAGE, REP, ".prometheus.LabelMatcher"),
    ("hints", 4, F.TYPE_MESSAGE, OPT, ".prometheus.ReadHints"),
])
msg(fd, "ReadRequest", [
    ("queries", 1, F.TYPE_MESSAGE, REP, ".prometheus.Query"),
    ("accepted_response_types", 2, F.TYPE_ENUM, REP, ".prometheus.ReadRequest.ResponseType"),
], enums=[("ResponseType", [("SAMPLES", 0), ("STREAMED_XOR_CHUNKS", 1)])])
msg(fd, "QueryResult", [("timeseries", 1, F.TYPE_MESSAGE, REP, ".prometheus.TimeSeries")])
msg(fd, "ReadResponse", [("results", 1, F.TYPE_MESSAGE, REP, ".prometheus.QueryResult")])

pool = descriptor_pool.DescriptorPool()
pool.Add(fd)
cls = {n: message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus." + n))
       for n in ["WriteRequest", "ReadRequest", "ReadResponse"]}

STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
here = os.path.dirname(os.path.abspath(__file__))


def write(name, m):
    data = m.SerializeToString(deterministic=True)
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
    print(name, len(data), data.hex())


# Full: every kind of field, including the ones Floe skips.
w = cls["WriteRequest"]()
ts = w.timeseries.add()
for n, v in [("__name__", "http_requests_total"), ("code", "200"), ("job", "api")]:
    ts.labels.add(name=n, value=v)
ts.samples.add(value=1.5, timestamp=1700000000000)
ts.samples.add(value=0.0, timestamp=0)            # both fields omitted on the wire
ts.samples.add(value=-0.0, timestamp=-1)          # -0.0 is written (its bits are not zero)
ts.samples.add(value=STALE, timestamp=1700000015000)
ex = ts.exemplars.add(value=2.0, timestamp=1700000000001)
ex.labels.add(name="trace_id", value="abc")
ts = w.timeseries.add()
ts.labels.add(name="__name__", value="up")
ts.samples.add()                                  # an all-default sample: an empty message
ts = w.timeseries.add()
ts.labels.add(name="__name__", value="latency_seconds")
h = ts.histograms.add(count_int=3, sum=0.75, schema=-1, zero_threshold=0.001, zero_count_int=1,
                      reset_hint=2, timestamp=1700000000000)
h.positive_spans.add(offset=-2, length=2)
h.positive_deltas.extend([1, -1])
md = w.metadata.add(type=1, metric_family_name="http_requests_total", help="Requests.")
write("write_request_full.pb", w)

# Floats only: what encode_write_request must reproduce byte for byte.
w = cls["WriteRequest"]()
ts = w.timeseries.add()
for n, v in [("__name__", "cpu"), ("host", "a")]:
    ts.labels.add(name=n, value=v)
ts.samples.add(value=0.5, timestamp=1000)
ts.samples.add(value=0.0, timestamp=2000)
ts = w.timeseries.add()
ts.labels.add(name="__name__", value="mem")
ts.samples.add(value=-2.0, timestamp=0)
write("write_request_floats.pb", w)

r = cls["ReadRequest"]()
q = r.queries.add(start_timestamp_ms=1000, end_timestamp_ms=2000)
q.matchers.add(type=0, name="__name__", value="up")
q.matchers.add(type=3, name="job", value="a.*")
q.hints.step_ms = 15000
q.hints.func = "rate"
q.hints.start_ms = 1000
q.hints.end_ms = 2000
q.hints.grouping.extend(["job", "instance"])
q.hints.by = True
q.hints.range_ms = 300000
r.accepted_response_types.extend([1, 0])
write("read_request.pb", r)

rr = cls["ReadResponse"]()
res = rr.results.add()
ts = res.timeseries.add()
ts.labels.add(name="__name__", value="up")
ts.samples.add(value=1.0, timestamp=1500)
write("read_response.pb", rr)
