"""moto's server, answering one request at a time, plus the one SES v2 call moto lacks.

moto's in-memory backends are not thread-safe, and its own server runs each request on a thread:
two BatchWriteItem calls creating the same DynamoDB partition at the same moment can each create
the partition, and the items of the one replaced are lost (Python's GIL does not make moto's
check-then-insert atomic). The tests write concurrently, as Outpost does, so they serialise the
requests instead. Connections stay threaded: only the application is locked.

moto 5.2.5 does not implement SES v2 GetAccount (`GET /v2/email/account`): it answers 404. Outpost
reads its sending quota with that call, so this server answers it itself, from moto's own SES
state: the same quota moto's SES v1 GetSendQuota reports (200 a day, 1 a second, and the number of
messages sent so far, which grows with every SendEmail, v1 or v2). Every other request goes to
moto unchanged.

    python serial_server.py -H 127.0.0.1 -p 5055
"""

import argparse
import json
import os
import re
import threading

from moto.core.responses import BaseResponse
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.ses.models import ses_backends
from werkzeug.serving import run_simple

GET_ACCOUNT_PATH = "/v2/email/account"
# SigV4: "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request, ..."
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/,\s]+/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/")


def serial(app):
    lock = threading.Lock()

    def application(environ, start_response):
        with lock:
            # The body is read whole inside the lock: moto builds it while answering.
            return list(app(environ, start_response))

    return application


def ses_v2_get_account(app):
    """Answers SES v2 GetAccount from moto's SES quota; passes every other request to `app`."""

    def application(environ, start_response):
        scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or environ.get("PATH_INFO") != GET_ACCOUNT_PATH
            or scope is None
            or scope.group("service").lower() != "ses"
        ):
            return app(environ, start_response)
        quota = ses_backends[account_id(environ)][scope.group("region")].get_send_quota()
        body = json.dumps(
            {
                "DedicatedIpAutoWarmupEnabled": False,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": False,
                "SendQuota": {
                    "Max24HourSend": float(quota.max24_hour_send),
                    "MaxSendRate": float(quota.max_send_rate),
                    "SentLast24Hours": float(quota.sent_last24_hours),
                },
                "SendingEnabled": True,
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return application


def account_id(environ):
    """The account moto files the request under, chosen as moto's own BaseResponse chooses it."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if "HTTP_X_MOTO_ACCOUNT_ID" in environ:
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    # moto only recognises AWS-shaped key ids (20 capitals and digits); any other is its example key.
    key = BaseResponse.access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(key.group("access_key") if key else "AKIAEXAMPLE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    # As moto's own server does: services that hand out their own URLs read it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    # Inside the lock: the answer reads moto's SES state.
    run_simple(
        args.host, args.port, serial(ses_v2_get_account(app)), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()
