#!/usr/bin/env python3
"""What a POS integrator does with shoplake's OpenAPI document, with the tools they would use.

    openapi_client.py validate DOC.json
        openapi-spec-validator (OpenAPI 3.1): exit 1 with every error listed.
    openapi_client.py generate DOC.json OUT_DIR
        openapi-python-client generates the package OUT_DIR/shoplake_client (no post hooks;
        application/gzip bodies mapped to binary, as its documentation says for such types).
    openapi_client.py exercise OUT_DIR BASE_URL TOKEN_001 TOKEN_002 ANALYST_TOKEN
        with that generated client only, each shop with its own token: shop 001 uploads
        OUT_DIR/001.csv as a multipart file and shop 002 OUT_DIR/002.csv as a .csv.gz body for 2025-07-30, each
        first checked with ?dry_run=true (the report read back), then uploaded; each upload's status is read
        back, then the analyst runs the seed query. Prints {"checks": {...}, "uploads": {...},
        "totals": {shop: total}} as JSON.
"""
import datetime, gzip, io, json, pathlib, subprocess, sys

SEED = ("SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed "
        "WHERE date = '2025-07-30' GROUP BY shop_id;")


def validate(doc_path):
    from openapi_spec_validator import OpenAPIV31SpecValidator
    spec = json.loads(pathlib.Path(doc_path).read_text())
    errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
    for e in errors:
        print("/".join(str(p) for p in e.absolute_path), ":", e.message, file=sys.stderr)
    sys.exit(1 if errors else 0)


def generate(doc_path, out_dir):
    out = pathlib.Path(out_dir)
    config = out / "generator.yaml"
    config.write_text("post_hooks: []\ncontent_type_overrides:\n  application/gzip: application/octet-stream\n")
    tool = pathlib.Path(sys.executable).parent / "openapi-python-client"
    done = subprocess.run(
        [str(tool), "generate", "--path", doc_path, "--output-path", str(out / "shoplake_client"),
         "--config", str(config), "--meta", "none", "--overwrite"],
        capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)


def exercise(out_dir, base_url, token_001, token_002, analyst_token):
    sys.path.insert(0, out_dir)
    from shoplake_client import AuthenticatedClient
    from shoplake_client.api.query import run_query
    from shoplake_client.api.uploads import create_upload, get_upload
    from shoplake_client.models import CheckReport, QueryRequest, UploadForm, UploadStatus
    from shoplake_client.types import File

    day = datetime.date(2025, 7, 30)
    files = {shop: pathlib.Path(out_dir, f"{shop}.csv").read_bytes() for shop in ("001", "002")}
    tokens = {"001": token_001, "002": token_002}
    bodies = {
        "001": lambda: UploadForm(file=File(payload=io.BytesIO(files["001"]), file_name="sales-001.csv", mime_type="text/csv")),
        "002": lambda: File(payload=io.BytesIO(gzip.compress(files["002"])), file_name="sales-002.csv.gz"),
    }
    checks, uploads = {}, {}
    for shop_id, body in bodies.items():
        shop = AuthenticatedClient(base_url=base_url, token=tokens[shop_id])
        check = create_upload.sync_detailed(shop_id, client=shop, date=day, dry_run=True, body=body())
        assert check.status_code == 200, (check.status_code, check.content)
        report = check.parsed
        assert isinstance(report, CheckReport), report
        checks[shop_id] = {"status": report.status.value, "rows_accepted": report.rows_accepted}
        answer = create_upload.sync_detailed(shop_id, client=shop, date=day, body=body())
        assert answer.status_code == 201, (answer.status_code, answer.content)
        created = answer.parsed
        status = get_upload.sync(str(created.id), client=shop)
        assert status.status == UploadStatus.SUCCEEDED, status
        assert status.date == day and status.shop_id == shop_id, status
        uploads[shop_id] = {"id": str(created.id), "status": status.status.value, "rows_accepted": status.rows_accepted}

    analyst = AuthenticatedClient(base_url=base_url, token=analyst_token)
    result = run_query.sync(client=analyst, body=QueryRequest(sql=SEED))
    totals = {row["shop_id"]: row["total_sales"] for row in (r.to_dict() for r in result.rows)}
    print(json.dumps({"checks": checks, "uploads": uploads, "totals": totals}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"validate": validate, "generate": generate, "exercise": exercise}[command](*args)
