"""An OTLP/HTTP trace receiver for the telemetry tests (tests/it/telemetry.rs).

Decodes each POSTed ExportTraceServiceRequest with the official
opentelemetry-proto package (an implementation independent of the
gateway's prost code) and prints it as one JSON line on stdout: the path,
the content type, the request headers, the resource's attributes and
every span (ids in lowercase hex, attributes as a dict, kind and status
code as numbers). The first line printed is the port it listens on
(127.0.0.1, an ephemeral port). It answers 200 with an empty
ExportTraceServiceResponse, as a collector does.
"""
import http.server
import json
import threading
import sys

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def attribute_value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(key_values):
    return {kv.key: attribute_value(kv.value) for kv in key_values}


def decode(body):
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    resources, spans = [], []
    for resource_spans in request.resource_spans:
        resources.append(attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "scope": scope_spans.scope.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "flags": span.flags,
                    "name": span.name,
                    "kind": span.kind,
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes),
                    "status_code": span.status.code,
                })
    return resources, spans


OUTPUT = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        resources, spans = decode(body)
        line = {
            "path": self.path,
            "content_type": self.headers.get("content-type"),
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "resources": resources,
            "spans": spans,
        }
        # One write per export, under a lock: two exports answered on two
        # threads (an old exporter draining after a reload) never
        # interleave their lines.
        with OUTPUT:
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
