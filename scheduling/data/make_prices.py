"""Writes prices.json: the approximate price table shipped with Parkway.

AWS's price list cannot be downloaded when the repository is built, so this
table is *generated*: a documented us-east-1 on-demand list price per type
(Linux, shared tenancy; RDS Single-AZ), times a per-region multiplier that
approximates how each region's list prices compare with us-east-1's. It is
an approximation for showing savings until an operator runs
`manage.py refresh_prices`, which replaces it with AWS's own figures
(Price List API, pricing:GetProducts).

Run: python scheduling/data/make_prices.py
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

GENERATED = "2025-06-01"
SIZES = ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")

# USD per hour in us-east-1, Linux, shared tenancy (AWS's list prices as of GENERATED).
EC2_BASE = {
    "t3": {"nano": "0.0052", "micro": "0.0104", "small": "0.0208", "medium": "0.0416", "large": "0.0832", "xlarge": "0.1664", "2xlarge": "0.3328"},
    "t4g": {"nano": "0.0042", "micro": "0.0084", "small": "0.0168", "medium": "0.0336", "large": "0.0672", "xlarge": "0.1344", "2xlarge": "0.2688"},
    "m5": {"large": "0.096", "xlarge": "0.192", "2xlarge": "0.384"},
    "m6i": {"large": "0.096", "xlarge": "0.192", "2xlarge": "0.384"},
    "m7i": {"large": "0.1008", "xlarge": "0.2016", "2xlarge": "0.4032"},
    "c5": {"large": "0.085", "xlarge": "0.17", "2xlarge": "0.34"},
    "c6i": {"large": "0.085", "xlarge": "0.17", "2xlarge": "0.34"},
    "r5": {"large": "0.126", "xlarge": "0.252", "2xlarge": "0.504"},
    "r6i": {"large": "0.126", "xlarge": "0.252", "2xlarge": "0.504"},
}
# USD per hour in us-east-1, Single-AZ, per engine (no license cost: open-source engines and Aurora).
RDS_BASE = {
    "mysql": {
        "db.t3": {"micro": "0.017", "small": "0.034", "medium": "0.068", "large": "0.136", "xlarge": "0.272", "2xlarge": "0.544"},
        "db.t4g": {"micro": "0.016", "small": "0.032", "medium": "0.065", "large": "0.129", "xlarge": "0.258", "2xlarge": "0.517"},
        "db.m5": {"large": "0.171", "xlarge": "0.342", "2xlarge": "0.684"},
        "db.m6i": {"large": "0.171", "xlarge": "0.342", "2xlarge": "0.684"},
        "db.r5": {"large": "0.24", "xlarge": "0.48", "2xlarge": "0.96"},
        "db.r6g": {"large": "0.215", "xlarge": "0.43", "2xlarge": "0.86"},
    },
    "postgres": {
        "db.t3": {"micro": "0.018", "small": "0.036", "medium": "0.072", "large": "0.145", "xlarge": "0.29", "2xlarge": "0.579"},
        "db.t4g": {"micro": "0.016", "small": "0.032", "medium": "0.065", "large": "0.129", "xlarge": "0.258", "2xlarge": "0.517"},
        "db.m5": {"large": "0.178", "xlarge": "0.356", "2xlarge": "0.712"},
        "db.m6i": {"large": "0.178", "xlarge": "0.356", "2xlarge": "0.712"},
        "db.r5": {"large": "0.25", "xlarge": "0.5", "2xlarge": "1.0"},
        "db.r6g": {"large": "0.225", "xlarge": "0.45", "2xlarge": "0.9"},
    },
    # Aurora runs on fewer classes (no db.m5/db.m6i, no micro).
    "aurora-mysql": {
        "db.t3": {"small": "0.041", "medium": "0.082", "large": "0.164"},
        "db.t4g": {"medium": "0.073", "large": "0.146"},
        "db.r5": {"large": "0.29", "xlarge": "0.58", "2xlarge": "1.16"},
        "db.r6g": {"large": "0.26", "xlarge": "0.519", "2xlarge": "1.038"},
    },
    "aurora-postgresql": {
        "db.t3": {"medium": "0.082", "large": "0.164"},
        "db.t4g": {"medium": "0.073", "large": "0.146"},
        "db.r5": {"large": "0.29", "xlarge": "0.58", "2xlarge": "1.16"},
        "db.r6g": {"large": "0.26", "xlarge": "0.519", "2xlarge": "1.038"},
    },
}
# Each region of the aws partition: its list prices relative to us-east-1 (approximate).
REGION_FACTOR = {
    "us-east-1": "1", "us-east-2": "1", "us-west-1": "1.17", "us-west-2": "1",
    "ca-central-1": "1.11", "ca-west-1": "1.11", "mx-central-1": "1.12", "sa-east-1": "1.55",
    "eu-west-1": "1.09", "eu-west-2": "1.13", "eu-west-3": "1.14", "eu-central-1": "1.15", "eu-central-2": "1.26",
    "eu-north-1": "1.04", "eu-south-1": "1.13", "eu-south-2": "1.09", "il-central-1": "1.15",
    "me-south-1": "1.22", "me-central-1": "1.22", "af-south-1": "1.30",
    "ap-east-1": "1.35", "ap-east-2": "1.30", "ap-south-1": "1.05", "ap-south-2": "1.05",
    "ap-northeast-1": "1.26", "ap-northeast-2": "1.20", "ap-northeast-3": "1.26",
    "ap-southeast-1": "1.21", "ap-southeast-2": "1.21", "ap-southeast-3": "1.21", "ap-southeast-4": "1.21",
    "ap-southeast-5": "1.10", "ap-southeast-6": "1.21", "ap-southeast-7": "1.10",
}


def _price(base: str, factor: str) -> str:
    return str((Decimal(base) * Decimal(factor)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize())


def build() -> dict:
    regions = {}
    for region, factor in sorted(REGION_FACTOR.items()):
        ec2 = {f"{family}.{size}": _price(p, factor) for family, sizes in EC2_BASE.items() for size, p in sizes.items()}
        rds = {
            f"{family}.{size}|{engine}": _price(p, factor)
            for engine, families in RDS_BASE.items() for family, sizes in families.items() for size, p in sizes.items()
        }
        regions[region] = {"ec2": ec2, "rds": rds}
    return {
        "generated": GENERATED,
        "source": (
            f"Approximate list prices as of {GENERATED}: us-east-1 on-demand prices (Linux, shared tenancy; RDS "
            "Single-AZ) times a per-region multiplier (scheduling/data/make_prices.py). "
            "`manage.py refresh_prices` replaces them with AWS's (Price List API)."
        ),
        "currency": "USD",
        "unit": "per hour",
        "prices": {"aws": regions},
    }


def write(table: dict, path: Path) -> None:
    """One line per region and kind: small diffs when prices change."""
    head = {k: v for k, v in table.items() if k != "prices"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + ['  "prices": {']
    partitions = list(table["prices"].items())
    for p_index, (partition, regions) in enumerate(partitions):
        lines.append(f"    {json.dumps(partition)}: {{")
        items = list(regions.items())
        for index, (region, kinds) in enumerate(items):
            lines.append(f"      {json.dumps(region)}: {{")
            kind_items = list(kinds.items())
            for k_index, (kind, prices) in enumerate(kind_items):
                comma = "," if k_index < len(kind_items) - 1 else ""
                lines.append(f"        {json.dumps(kind)}: {json.dumps(prices, sort_keys=True, separators=(',', ':'))}{comma}")
            lines.append("      }" + ("," if index < len(items) - 1 else ""))
        lines.append("    }" + ("," if p_index < len(partitions) - 1 else ""))
    lines += ["  }", "}", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    write(build(), Path(__file__).with_name("prices.json"))
