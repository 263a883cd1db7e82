"""moto's server, answering one request at a time.

moto's in-memory backends are not thread-safe, and its own server runs each request on a thread:
two BatchWriteItem calls creating the same DynamoDB partition at the same moment can each create
the partition, and the items of the one replaced are lost (Python's GIL does not make moto's
check-then-insert atomic). The tests write concurrently, as Outpost does, so they serialise the
requests instead. Connections stay threaded: only the application is locked.

    python serial_server.py -H 127.0.0.1 -p 5055
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def serial(app):
    lock = threading.Lock()

    def application(environ, start_response):
        with lock:
            # The body is read whole inside the lock: moto builds it while answering.
            return list(app(environ, start_response))

    return application


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    # As moto's own server does: services that hand out their own URLs read it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serial(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
