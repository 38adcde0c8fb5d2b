"""The price table: lookups, "unknown" never zero, and refresh_prices parsing AWS's Price List answers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from scheduling import prices
from tenants import aws

pytestmark = pytest.mark.django_db


def test_the_shipped_table_covers_every_aws_region_and_says_how_it_was_made():
    table = prices.price_table()
    assert table.generated and "Approximate" in table.source and "refresh_prices" in table.source
    import boto3

    assert set(boto3.Session().get_available_regions("ec2")) <= set(table.prices["aws"])
    assert table.hourly(partition="aws", region="us-east-1", kind="ec2_instance", instance_type="t3.micro") == Decimal("0.0104")
    assert table.hourly(partition="aws", region="us-east-1", kind="rds_instance", instance_type="db.r6g.large",
                        engine="aurora-postgresql") == Decimal("0.26")


@pytest.mark.parametrize("lookup", [
    {"partition": "aws", "region": "us-east-1", "kind": "ec2_instance", "instance_type": "x9.weird"},
    {"partition": "aws-cn", "region": "cn-north-1", "kind": "ec2_instance", "instance_type": "t3.micro"},
    {"partition": "aws", "region": "us-east-1", "kind": "ec2_instance", "instance_type": ""},
    {"partition": "aws", "region": "us-east-1", "kind": "ec2_instance", "instance_type": "t3.micro", "os": "windows"},
    {"partition": "aws", "region": "us-east-1", "kind": "rds_instance", "instance_type": "db.t3.micro", "engine": "oracle-ee"},
    {"partition": "aws", "region": "us-east-1", "kind": "autoscaling_group", "instance_type": "t3.micro"},
])
def test_what_the_table_does_not_list_is_unknown_not_zero(lookup):
    assert prices.price_table().hourly(**lookup) is None


def product(attributes: dict, usd: str, unit: str = "Hrs") -> str:
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "attributes": attributes},
        "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {"SKU.TERM.DIM": {
            "unit": unit, "pricePerUnit": {"USD": usd}, "description": "per hour"}}}}},
    })


EC2 = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
EC2_FILTERS = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in EC2.items()]


@pytest.fixture
def small_table(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"generated": "2025-06-01", "source": "approximate", "currency": "USD", "prices": {"aws": {
        "us-east-1": {"ec2": {"t3.micro": "0.01", "m5.large": "0.09"}, "rds": {"db.t3.micro|postgres": "0.02"}},
        "eu-west-1": {"ec2": {"t3.micro": "0.011"}, "rds": {}},
    }}}))
    return path


def test_refresh_prices_parses_aws_price_list_pages(small_table):
    client = aws.pricing_client()
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": [
            product(EC2 | {"instanceType": "t3.micro", "regionCode": "us-east-1"}, "0.0104000000"),
            product(EC2 | {"instanceType": "t3.micro", "regionCode": "eu-west-1"}, "0.0114000000"),
            # Not one of ours, another OS, a reservation-only capacity, a zero price: all ignored.
            product(EC2 | {"instanceType": "p5.48xlarge", "regionCode": "us-east-1"}, "98.32"),
            product(EC2 | {"instanceType": "m5.large", "regionCode": "us-east-1", "operatingSystem": "Windows"}, "0.188"),
            product(EC2 | {"instanceType": "m5.large", "regionCode": "us-east-1", "capacitystatus": "UnusedCapacityReservation"}, "0.5"),
            product(EC2 | {"instanceType": "m5.large", "regionCode": "eu-west-1"}, "0.0"),
        ], "NextToken": "page-2", "FormatVersion": "aws_v1"},
            {"ServiceCode": "AmazonEC2", "Filters": EC2_FILTERS, "FormatVersion": "aws_v1"})
        stub.add_response("get_products", {"PriceList": [
            product(EC2 | {"instanceType": "m5.large", "regionCode": "us-east-1"}, "0.0960000000"),
        ], "FormatVersion": "aws_v1"},
            {"ServiceCode": "AmazonEC2", "Filters": EC2_FILTERS, "FormatVersion": "aws_v1", "NextToken": "page-2"})
        rds = {"deploymentOption": "Single-AZ", "instanceType": "db.t3.micro", "regionCode": "us-east-1"}
        stub.add_response("get_products", {"PriceList": [
            product(rds | {"databaseEngine": "PostgreSQL"}, "0.0180000000"),
            product(rds | {"databaseEngine": "MySQL"}, "0.017"),  # not in the table: not added
            product(rds | {"databaseEngine": "PostgreSQL", "deploymentOption": "Multi-AZ"}, "0.036"),
        ], "FormatVersion": "aws_v1"},
            {"ServiceCode": "AmazonRDS", "FormatVersion": "aws_v1",
             "Filters": [{"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Single-AZ"}]})
        result = prices.prices_refresh(client=client, path=small_table)
        stub.assert_no_pending_responses()
    assert (result.ec2, result.rds, result.regions) == (3, 1, 2)
    table = prices.load_table(small_table)
    assert table.prices["aws"]["us-east-1"]["ec2"] == {"t3.micro": "0.0104", "m5.large": "0.096"}
    assert table.prices["aws"]["eu-west-1"]["ec2"] == {"t3.micro": "0.0114"}
    assert table.prices["aws"]["us-east-1"]["rds"] == {"db.t3.micro|postgres": "0.018"}
    assert "Price List API" in table.source and table.generated != "2025-06-01"


def test_a_refused_price_list_call_is_an_aws_error_and_leaves_the_table(small_table):
    client = aws.pricing_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_products", service_error_code="AccessDeniedException", service_message="no", http_status_code=403)
        with pytest.raises(aws.AwsError):
            prices.prices_refresh(client=client, path=small_table)
    assert json.loads(small_table.read_text())["generated"] == "2025-06-01"  # untouched
