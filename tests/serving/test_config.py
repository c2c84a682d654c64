"""ServiceConfig from the environment: defaults, overrides, and errors that name the variable."""

from __future__ import annotations

import pytest

from serving.config import ServiceConfig, ServiceConfigError, config_from_env
from training.explain.registered import DEFAULT_MODEL_URI


def test_defaults():
    config = config_from_env({})
    assert config == ServiceConfig()
    assert config.model_uri == DEFAULT_MODEL_URI
    assert not config.auth_enabled


def test_overrides():
    config = config_from_env(
        {
            "LES_MODEL_URI": "models:/les-forecaster/3",
            "LES_API_TOKEN": "t",
            "LES_WORKERS": "2",
            "LES_MAX_BATCH": "50",
            "LES_MAX_ORDERS": "10",
            "LES_MAX_BODY_BYTES": "1000",
            "LES_MAX_ADVICE": "1",
            "LES_ACCESS_LOG": "off",
        }
    )
    assert config == ServiceConfig(
        model_uri="models:/les-forecaster/3",
        api_token="t",
        workers=2,
        max_batch=50,
        max_orders=10,
        max_body_bytes=1000,
        max_advice=1,
        access_log=False,
    )
    assert config.auth_enabled


def test_an_empty_token_means_no_auth():
    assert not config_from_env({"LES_API_TOKEN": ""}).auth_enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [("LES_MAX_BATCH", "ten"), ("LES_WORKERS", "0"), ("LES_ACCESS_LOG", "perhaps")],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ServiceConfigError, match=name):
        config_from_env({name: value})
