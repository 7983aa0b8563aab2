"""Broker URLs and the shared connection config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowengine_nodes.mqtt.broker import BrokerURL, MqttClientConfig


def test_parse_plain_url_with_default_port() -> None:
    url = BrokerURL.parse("mqtt://broker.local")
    assert (url.scheme, url.host, url.port) == ("mqtt", "broker.local", 1883)
    assert (url.username, url.password) == (None, None)
    assert not url.tls


def test_parse_tls_url_with_credentials_and_port() -> None:
    url = BrokerURL.parse("mqtts://us%40er:p%3Ass@127.0.0.1:8884")
    assert (url.scheme, url.host, url.port) == ("mqtts", "127.0.0.1", 8884)
    assert (url.username, url.password) == ("us@er", "p:ss")
    assert url.tls
    assert BrokerURL.parse("mqtts://h").port == 8883


def test_password_never_shows() -> None:
    url = BrokerURL.parse("mqtt://flow:hunter2@host:1")
    assert str(url) == "mqtt://flow:***@host:1"
    assert "hunter2" not in repr(url)
    with pytest.raises(ValueError, match="mqtt://") as caught:
        BrokerURL.parse("http://flow:hunter2@host")
    assert "hunter2" not in str(caught.value)


def test_ipv6_host() -> None:
    url = BrokerURL.parse("mqtt://[::1]:1884")
    assert (url.host, url.port) == ("::1", 1884)
    assert str(url) == "mqtt://[::1]:1884"


@pytest.mark.parametrize(
    "text", ["127.0.0.1:1883", "mqtt://", "mqtt://host:notaport", "mqtt://host/path", "ws://host"]
)
def test_bad_urls(text: str) -> None:
    with pytest.raises(ValueError, match=r"broker URL|host|port|Port"):
        BrokerURL.parse(text)


def test_config_checks_tls_options() -> None:
    with pytest.raises(ValidationError, match="need a mqtts://"):
        MqttClientConfig(broker="mqtt://h", ca="ca.pem")
    with pytest.raises(ValidationError, match="key needs cert"):
        MqttClientConfig(broker="mqtts://h", key="k.pem")
    config = MqttClientConfig(broker="mqtts://h", ca="ca.pem", cert="c.pem", key="k.pem")
    assert config.url.tls


def test_protocol_accepts_yaml_numbers() -> None:
    assert MqttClientConfig.model_validate({"broker": "mqtt://h", "protocol": 5}).protocol == "5"
    assert MqttClientConfig.model_validate({"broker": "mqtt://h", "protocol": "3.1.1"}).protocol == "3.1.1"
    with pytest.raises(ValidationError):
        MqttClientConfig.model_validate({"broker": "mqtt://h", "protocol": 3})
    with pytest.raises(ValidationError, match="extra"):
        MqttClientConfig.model_validate({"broker": "mqtt://h", "brokr": "x"})
