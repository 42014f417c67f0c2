"""A NATS client that is not Gantry's (nats.py): one request with a grant's .creds file and the
inbox prefix the membrane allows (docs/protocol.md, "Calling from other NATS clients").
Usage: python creds_request.py URL CREDS INBOX_PREFIX SUBJECT DATA   (INBOX_PREFIX "" = the default)
"""
import asyncio
import sys

import nats


async def main(url, creds, prefix, subject, data):
    async def on_error(e):
        # the server refuses a publish asynchronously; nats.py reports it here, not on the request
        print("ASYNC_ERROR", e, flush=True)

    options = {"user_credentials": creds, "error_cb": on_error, "allow_reconnect": False}
    if prefix:
        options["inbox_prefix"] = prefix
    nc = await nats.connect(url, **options)
    try:
        msg = await nc.request(subject, data.encode(), timeout=2)
        print("REPLY", msg.data.decode(), flush=True)
        return 0
    except Exception as e:
        print("REQUEST_ERROR", type(e).__name__, e, flush=True)
        return 3
    finally:
        await nc.close()


sys.exit(asyncio.run(main(*sys.argv[1:6])))
