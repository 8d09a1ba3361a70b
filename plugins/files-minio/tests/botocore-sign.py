#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The independent SigV4 oracle of herald-files-minio-sigv4-test: Debian's botocore
# (python3-botocore, so /usr/bin/python3, not a python3 earlier on PATH).
# stdin: one JSON object per line {method, url, headers, region, access_key,
# secret_key, timestamp "YYYYmmddTHHMMSSZ", expires (0 = header signing)};
# stdout: one JSON object per line {authorization} or {url}.
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(job):
    creds = Credentials(job["access_key"], job["secret_key"])
    req = AWSRequest(method=job["method"], url=job["url"], headers=job.get("headers", {}), data=b"")
    when = datetime.datetime.strptime(job["timestamp"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        dt.datetime.side_effect = datetime.datetime
        if job.get("expires", 0) > 0:
            auth = botocore.auth.S3SigV4QueryAuth(creds, "s3", job["region"], expires=job["expires"])
            auth.add_auth(req)
            return {"url": req.url}
        auth = botocore.auth.S3SigV4Auth(creds, "s3", job["region"])
        auth.add_auth(req)
        return {"authorization": req.headers["Authorization"],
                "content_sha256": req.headers["X-Amz-Content-SHA256"]}


for line in sys.stdin:
    if line.strip():
        print(json.dumps(sign(json.loads(line))), flush=True)
