"""What namespace declarations cost a request: an envelope whose Envelope, Body or operation element
declares N namespaces (`xmlns:nI="u"`), timed step by step in-process and over HTTP.

    .venv/bin/python bench/namespace_declarations.py [--counts 40000 100000 200000] [--postgres-url URL]

In-process, for each place and count: the gateway's steps as `SoapEndpoint` runs them (parse with its
checks, reading the envelope, validation, reading the arguments) under the default limits, where the cap
refuses the request during parse; then validation alone of the same envelope read by lxml without the
caps, which shows what the declarations cost the validation itself (validating the operation element
used to copy every declaration of its ancestors onto it, each checked against the copies before it).
Over HTTP: the same envelopes POSTed to a live `ledger-service serve --workers 2` on a throwaway
PostgreSQL database (as bench/throughput.py makes one), each with its time and the fault code answered.
"""
from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

from throughput import DEFAULT_POSTGRES_URL, SOAP11_ENV, TNS, serving

from ledger_service.soap import codec
from ledger_service.soap.envelope import Limits, RequestRefused, parse, read_envelope, validate
from ledger_service.wsgi import contracts, spyne_application

PLACES = ("Envelope", "Body", "operation")


def document(place: str, count: int) -> bytes:
    declarations = " ".join(f'xmlns:n{i}="u"' for i in range(count))
    on = {where: declarations if where == place else "" for where in PLACES}
    return (f'<e:Envelope xmlns:e="{SOAP11_ENV}" xmlns:l="{TNS}" {on["Envelope"]}><e:Header/><e:Body {on["Body"]}>'
            f'<l:GetBalance {on["operation"]}><l:book>B</l:book><l:account>cash</l:account></l:GetBalance>'
            "</e:Body></e:Envelope>").encode()


def timed(step, *args):
    started = time.perf_counter()
    try:
        return step(*args), time.perf_counter() - started, None
    except RequestRefused as refused:
        return None, time.perf_counter() - started, refused.error.message


def in_process(counts: list[int]) -> None:
    schema = contracts()["soap11"].schema(SOAP11_ENV)
    operations = {tag: descriptors[0] for tag, descriptors in
                  spyne_application("soap11").interface.service_method_map.items()}
    print("in-process (seconds):")
    for place in PLACES:
        for count in counts:
            body = document(place, count)
            root, parse_time, refusal = timed(parse, body, SOAP11_ENV, Limits())
            steps = f"parse {parse_time:.3f}"
            if refusal is None:
                request, read_time, _ = timed(read_envelope, root, SOAP11_ENV)
                _, validate_time, _ = timed(validate, schema, root, request.operation, operations.keys())
                _, arguments_time, _ = timed(codec.read_arguments, operations[request.operation.tag].in_message,
                                             request.operation)
                steps += f", read_envelope {read_time:.3f}, validate {validate_time:.3f}, " \
                         f"read_arguments {arguments_time:.3f}"
            uncapped = etree.fromstring(body)
            operation = read_envelope(uncapped, SOAP11_ENV).operation
            _, uncapped_time, _ = timed(validate, schema, uncapped, operation, operations.keys())
            print(f"  {place:9} {count:>7} ({len(body) / 2 ** 20:.2f} MiB): {steps}"
                  f"{f' -> {refusal}' if refusal else ''}; validate without the caps {uncapped_time:.3f}")


def over_http(counts: list[int], postgres_url: str) -> None:
    print("over HTTP (ledger-service serve --workers 2, PostgreSQL):")
    with tempfile.TemporaryDirectory() as work_dir, serving(postgres_url, 2, Path(work_dir)) as server:
        for place in PLACES:
            for count in counts:
                body = document(place, count)
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
                started = time.perf_counter()
                try:
                    connection.request("POST", "/v1/soap11", body, {"Content-Type": "text/xml; charset=utf-8"})
                    response = connection.getresponse()
                    code = etree.fromstring(response.read()).findtext(f".//{{{TNS}}}code")
                    outcome = f"HTTP {response.status} {code}"
                except (OSError, http.client.HTTPException) as error:
                    outcome = f"no answer: {error!r}"
                finally:
                    connection.close()
                print(f"  {place:9} {count:>7} ({len(body) / 2 ** 20:.2f} MiB): "
                      f"{time.perf_counter() - started:.2f} s, {outcome}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[40_000, 100_000, 200_000])
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--no-http", action="store_true", help="only the in-process figures")
    options = parser.parse_args(argv)
    in_process(options.counts)
    if not options.no_http:
        over_http(options.counts, options.postgres_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
