#!/usr/bin/env python3
"""Reads shoplake's processed/ with DuckDB (Hive partitioning) and runs the seed query.

    duckdb_seed_query.py DATA_DIR DATE   ->  {"001": "1234.5600", ...} on stdout

Proves that another engine reads our files directly: same totals, to the cent.
"""
import json, sys

import duckdb

data_dir, date = sys.argv[1], sys.argv[2]
con = duckdb.connect()
pattern = f"{data_dir}/processed/*/*/*.parquet".replace("'", "''")
con.execute(
    f"CREATE VIEW sales_processed AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
    "hive_types = {'shop_id': VARCHAR, 'date': VARCHAR})"
)
rows = con.execute(
    f"SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '{date}' GROUP BY shop_id;"
).fetchall()
print(json.dumps({shop: str(total) for shop, total in rows}))
