"""Content-Type and Accept against an algorithm's media types, in process, with the built-in
formats: what a request is read and answered as, and the 415/406 a client sees otherwise.
tests/test_serve.py checks the same doors over HTTP."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from algoport import builtin_formats
from algoport.errors import PlatformError, PluginError
from algoport.media import (
    ContentTypes,
    Format,
    FormatRegistry,
    NotAcceptable,
    UnsupportedMediaType,
)

ACCEPTS = ("text/csv", "application/json")
PRODUCES = ("application/json", "text/csv", "application/jsonlines")


def table(
    accepts: Sequence[str] = ACCEPTS,
    produces: Sequence[str] = PRODUCES,
    *,
    plugins: Iterable[tuple[str, Iterable[Format]]] = (),
    declared: bool = True,
) -> FormatRegistry:
    return FormatRegistry(
        [(builtin_formats.NAME, builtin_formats.formats()), *plugins],
        ContentTypes(accepts, produces) if declared else None,
        builtin_plugin=builtin_formats.NAME,
        algorithm="algo",
    )


def read_as(content_type: str | None, formats: FormatRegistry | None = None) -> str:
    codec, media = (formats or table()).decoder(content_type)
    assert codec.media_type == media.essence
    return str(media)


def answered_as(accept: str | None, default: str | None = None) -> str:
    codec, media = table().encoder(accept, default)
    assert codec.media_type == media.essence
    return str(media)


def decode_nothing(body: bytes, media: object) -> None:
    return None


def encode_nothing(columns: object, media: object) -> bytes:
    return b""


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        ("text/csv", "text/csv"),
        ("text/csv;label_size=1", "text/csv;label_size=1"),
        ("Application/JSON; charset=utf-8", "application/json;charset=utf-8"),
        (None, "text/csv"),
        ("", "text/csv"),
    ],
)
def test_a_request_is_read_as_its_content_type_or_the_first_accepted(
    content_type: str | None, media: str
) -> None:
    assert read_as(content_type) == media


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (
            "application/x-npy",
            "Content-Type 'application/x-npy' is not supported; this endpoint accepts "
            "text/csv, application/json.",
        ),
        ("csv", "Media type 'csv' is malformed; expected type/subtype, e.g. text/csv."),
    ],
)
def test_an_unreadable_content_type_is_415_saying_what_is_accepted(
    content_type: str, message: str
) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        read_as(content_type)

    assert raised.value.http_status == 415
    assert raised.value.message == message


def test_an_algorithm_that_reads_nothing_says_so_for_a_bodiless_request() -> None:
    with pytest.raises(UnsupportedMediaType, match=r"^The algorithm accepts no request body\.$"):
        read_as(None, table(accepts=()))


@pytest.mark.parametrize(
    ("accept", "default", "media"),
    [
        (None, None, "application/json"),
        (None, "text/csv", "text/csv"),
        ("", "text/csv", "text/csv"),
        ("*/*", "text/csv", "text/csv"),
        ("text/csv", None, "text/csv"),
        ("application/json;q=0.5, text/csv;q=0.9", None, "text/csv"),
        ("text/csv, application/json", None, "text/csv"),
        ("application/jsonlines, text/csv", None, "application/jsonlines"),
        ("text/*", None, "text/csv"),
        ("application/*", None, "application/json"),
        ("*/*;q=0.1, application/jsonlines", None, "application/jsonlines"),
        ("image/png, */*", "text/csv", "text/csv"),
        ("text/csv;q=0, */*", "text/csv", "application/json"),
        ("nonsense, text/csv", None, "text/csv"),
        ("application/json;verbose=true;q=0.8", None, "application/json;verbose=true"),
    ],
)
def test_accept_picks_the_best_produced_type(
    accept: str | None, default: str | None, media: str
) -> None:
    assert answered_as(accept, default) == media


def test_a_default_the_algorithm_does_not_produce_is_a_platform_error() -> None:
    with pytest.raises(PlatformError) as raised:
        answered_as(None, "application/x-npy")

    assert raised.value.message == (
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT is 'application/x-npy', which algorithm 'algo' "
        "does not produce; it produces application/json, text/csv, application/jsonlines. "
        "Set it to one of those, or unset it."
    )


@pytest.mark.parametrize(
    "accept", ["image/png, text/html", "text/csv;q=0, application/*;q=0", "*/*;q=0"]
)
def test_an_unsatisfiable_accept_is_406_saying_what_is_produced(accept: str) -> None:
    with pytest.raises(NotAcceptable) as raised:
        answered_as(accept)

    assert raised.value.http_status == 406
    assert raised.value.message == (
        f"Accept {accept!r} matches nothing this endpoint produces; it produces "
        "application/json, text/csv, application/jsonlines."
    )


def test_undeclared_content_types_are_every_format_json_answering_first() -> None:
    formats = table(declared=False)

    assert read_as("application/x-npy", formats) == "application/x-npy"
    assert formats.accepts[0] == "application/json"
    assert formats.produces[0] == "application/json"
    assert set(formats.produces) == set(formats.accepts)


def test_a_plugin_format_adds_a_media_type() -> None:
    libsvm = Format("text/libsvm", decode=decode_nothing)

    formats = table(("text/libsvm",), plugins=[("algoport-xgboost", [libsvm])])

    assert formats.decoder("text/libsvm")[0] is libsvm


def test_a_plugin_replaces_a_built_in_format_only_by_saying_override() -> None:
    replacement = Format("text/csv", decode=decode_nothing, encode=encode_nothing, override=True)
    formats = table(plugins=[("my-plugin", [replacement])])
    assert formats.decoder("text/csv")[0] is replacement

    with pytest.raises(PluginError) as raised:
        table(plugins=[("my-plugin", [Format("Text/CSV; header=present", decode=decode_nothing)])])
    assert raised.value.message == (
        "Media type 'text/csv' has two formats, from plugin 'algoport.builtin_formats' and from "
        "plugin 'my-plugin'. To replace a built-in format, give the new one override=True."
    )


def test_two_plugins_with_a_format_for_one_media_type_clash_even_with_override() -> None:
    plugins = [
        ("plugin-a", [Format("text/libsvm", decode=decode_nothing)]),
        ("plugin-b", [Format("text/libsvm", decode=decode_nothing, override=True)]),
    ]

    with pytest.raises(PluginError) as raised:
        table(plugins=plugins)

    assert raised.value.message == (
        "Media type 'text/libsvm' has two formats, from plugin 'plugin-a' and from plugin "
        "'plugin-b'. Uninstall one of them."
    )


@pytest.mark.parametrize(
    ("accepts", "produces", "message"),
    [
        (
            ("text/plain",),
            PRODUCES,
            "Algorithm 'algo' accepts 'text/plain' but no installed format decodes it; add a "
            "Format for it in the plugin's formats hook.",
        ),
        (
            ACCEPTS,
            ("text/libsvm",),
            "Algorithm 'algo' produces 'text/libsvm' but no installed format encodes it; add a "
            "Format for it in the plugin's formats hook.",
        ),
        (ACCEPTS, (), "Algorithm 'algo' produces no media type."),
    ],
)
def test_declared_content_types_need_a_format_each(
    accepts: Sequence[str], produces: Sequence[str], message: str
) -> None:
    plugins = [("algoport-xgboost", [Format("text/libsvm", decode=decode_nothing)])]

    with pytest.raises(PluginError) as raised:
        table(accepts, produces, plugins=plugins)

    assert raised.value.message == message
