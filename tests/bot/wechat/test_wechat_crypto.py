"""Signatures, safe-mode encryption and settings of the WeChat channel, checked against Tencent's own
WXBizMsgCrypt samples and against the tests' independent encoder."""
from __future__ import annotations

import base64

import pytest

from bot.settings import SettingsError
from bot.wechat.crypto import CryptoError, MessageCrypto, pkcs7_pad, pkcs7_unpad, sign, signature_ok
from bot.wechat.protocol import Inbound, Rejected, cdata, parse_message, parse_xml, text_reply_xml
from bot.wechat.settings import WeChatSettings

# Tencent's WXBizMsgCrypt SDK samples (Java test and the documented decryption example).
SDK_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SDK_APPID = "wxb11529c136998cb6"
SDK_CIPHER = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
DOC_TOKEN, DOC_APPID, DOC_TS, DOC_NONCE = "spamtest", "wx2c2769f8efd9abc2", "1409735669", "1320562132"
DOC_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
DOC_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9Fr"
    "XpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WG"
    "zjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYY"
    "I1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_known_sample_encrypts_to_the_exact_ciphertext_and_back() -> None:
    crypto = MessageCrypto("pamtest", SDK_KEY, SDK_APPID)
    assert crypto.encrypt("我是中文abcd123", random16=b"aaaabbbbccccdddd") == SDK_CIPHER
    assert crypto.decrypt(SDK_CIPHER) == ("我是中文abcd123", SDK_APPID)


def test_a_message_encrypted_by_wechat_decrypts_and_its_signature_holds() -> None:
    crypto = MessageCrypto(DOC_TOKEN, SDK_KEY, DOC_APPID)
    assert crypto.msg_signature(DOC_TS, DOC_NONCE, DOC_ENCRYPT) == DOC_SIGNATURE
    xml, app_id = crypto.decrypt(DOC_ENCRYPT)
    assert app_id == DOC_APPID
    fields = parse_xml(xml.encode(), 64 * 1024)
    assert fields["MsgType"] == "text" and fields["Content"] == "abcdteT" and fields["MsgId"] == "6054768590064713728"


def test_fixed_random_bytes_round_trip_through_the_tests_encoder(sim) -> None:
    crypto = MessageCrypto(sim.token, sim.aes_key, sim.app_id)
    xml = sim.text_xml("o_user", "个税怎么算？" * 20, "1234")
    fixed = bytes(range(16))
    ours, theirs = crypto.encrypt(xml, random16=fixed), sim.encrypt(xml, random16=fixed)
    assert ours == theirs  # the product and the documented algorithm agree byte for byte
    assert crypto.decrypt(theirs) == (xml, sim.app_id) and sim.decrypt(ours) == xml
    assert crypto.encrypt(xml) != crypto.encrypt(xml)  # random prefix


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 63, 64])
def test_pkcs7_pads_to_32_byte_blocks(length: int) -> None:
    padded = pkcs7_pad(b"x" * length)
    assert len(padded) % 32 == 0 and 1 <= len(padded) - length <= 32
    assert pkcs7_unpad(padded) == b"x" * length


def test_broken_ciphertexts_are_refused(sim) -> None:
    crypto = MessageCrypto(sim.token, sim.aes_key, sim.app_id)
    for bad in ("not base64!!", base64.b64encode(b"short").decode(), base64.b64encode(b"0" * 32).decode()):
        with pytest.raises(CryptoError):
            crypto.decrypt(bad)


def test_signatures() -> None:
    assert sign("b", "a", "c") == sign("c", "b", "a")
    assert signature_ok(sign("t", "1", "n"), ("t", "1", "n"))
    assert not signature_ok(sign("t", "1", "n"), ("t", "2", "n")) and not signature_ok(None, ("t",))
    assert not signature_ok("中文", ("t",))


def test_xml_parsing_refuses_dtds_and_non_wechat_xml() -> None:
    with pytest.raises(Rejected) as exc:
        parse_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>', 1000)
    assert exc.value.code == "dtd_forbidden"
    with pytest.raises(Rejected) as exc:
        parse_xml('<?xml version="1.0" encoding="UTF-16"?><xml/>'.encode(), 1000)
    assert exc.value.code == "invalid_encoding"
    for bad in (b"<xml><A></xml>", b"<other/>", b"\xff\xfe<xml/>", b""):
        with pytest.raises(Rejected):
            parse_xml(bad, 1000)
    with pytest.raises(Rejected) as exc:
        parse_xml(b"<xml>" + b"a" * 2000 + b"</xml>", 1000)
    assert exc.value.status == 413


def test_reply_xml_escapes_cdata() -> None:
    inbound = Inbound(openid="o1", account="gh_1", create_time=1, msg_type="text", content="x", msg_id="1")
    xml = text_reply_xml(inbound, "a]]>b", now=5)
    assert parse_xml(xml.encode(), 10_000)["Content"] == "a]]>b" and cdata("]]>").count("CDATA") == 2


def test_settings() -> None:
    assert not WeChatSettings.from_env({}).enabled
    assert not WeChatSettings.from_env({"WECHAT_TOKEN": "t"}).enabled
    conf = WeChatSettings.from_env({"WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wx1", "WECHAT_API_BASE": "http://127.0.0.1:9/"})
    assert conf.enabled and not conf.safe_mode and conf.api_base == "http://127.0.0.1:9"
    assert conf.reply_budget == 4.5 and conf.timestamp_window == 300
    assert WeChatSettings.from_env({"WECHAT_ENCODING_AES_KEY": SDK_KEY}).safe_mode
    assert "secret-token" not in repr(WeChatSettings(token="secret-token", app_secret="secret-token"))
    for env in ({"WECHAT_ENCODING_AES_KEY": "short"}, {"WECHAT_REPLY_BUDGET": "5"}, {"WECHAT_API_BASE": "ftp://x"},
                {"WECHAT_TIMESTAMP_WINDOW": "0"}):
        with pytest.raises(SettingsError):
            WeChatSettings.from_env(env)


def test_wrong_app_id_and_stale_timestamp_are_refused(sim) -> None:
    conf = WeChatSettings(token=sim.token, app_id="wx_other_app", encoding_aes_key=sim.aes_key)
    crypto = MessageCrypto(sim.token, sim.aes_key, "wx_other_app")
    req = sim.request(sim.text_xml("o1", "hi", "1"))
    with pytest.raises(Rejected) as exc:
        parse_message(req["params"], req["data"], conf, crypto)
    assert exc.value.code == "wrong_app_id"
    req = sim.request(sim.text_xml("o1", "hi", "1"), timestamp=1_000_000)
    with pytest.raises(Rejected) as exc:
        parse_message(req["params"], req["data"], conf, crypto)
    assert exc.value.code == "stale_timestamp"
