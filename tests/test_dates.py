"""Date parsing: publication dates, mentioned dates, question constraints."""

from __future__ import annotations

from rag.dates import mentioned_dates, normalise_date, parse_published, query_dates


def test_published_date_formats():
    assert parse_published("Trang chủ Chính trị - Xã hội\n17:28 | 02/12/2021 GMT+7\n\nTiêu đề") == "2021-12-02"
    assert parse_published("In bài viết\n\nTiêu đề\n\n09:08 - 14/08/2024\n\n(Chinhphu.vn) - ...") == "2024-08-14"
    # A date inside a sentence is not a publication date.
    assert parse_published("Ngày 17/10/2019, Việt Nam và EU đã ký Hiệp định về thiết lập khuôn khổ tham gia.") is None


def test_mentioned_dates_resolve_missing_year_against_publication():
    text = "Trong khuôn khổ chuyến thăm (từ ngày 29/11 đến 2/12/2021), ngày 1/12, hai bên hội đàm; tháng 12/2024; năm 2021."
    found = mentioned_dates(text, "2021-12-02")
    assert {"2021-11-29", "2021-12-02", "2021-12-01", "2024-12", "2021"} <= set(found)


def test_day_month_after_publication_is_last_year():
    assert mentioned_dates("Ngày 28/12, hội nghị diễn ra.", "2022-01-05") == ["2021-12-28"]


def test_numbers_are_not_dates():
    assert mentioned_dates("hơn 51.000 người, 4 trường, 110 văn bản, 34-NQ/TW", "2021-12-02") == []


def test_year_less_mentions_without_publication_date_are_dropped():
    assert mentioned_dates("Ngày 6/7, tại Moskva", None) == []


def test_question_dates():
    assert query_dates("What did Vietnam and Russia agree in 2021?") == ["2021"]
    assert query_dates("Việt Nam và Nga thỏa thuận gì năm 2021?") == ["2021"]
    assert query_dates("hai ben hop tac gi thang 8/2024") == ["2024-08"]
    assert query_dates("What happened in August 2024?") == ["2024-08"]
    assert query_dates("Who met on 1/12/2021?") == ["2021-12-01"]
    assert query_dates("How many students are in Japan?") == []


def test_normalise_user_dates():
    assert normalise_date("02/12/2021") == "2021-12-02"
    assert normalise_date("2024-08-14T09:08:00") == "2024-08-14"
    assert normalise_date("2024") == "2024"
    assert normalise_date("sometime") is None


def test_year_less_dates_in_late_december_can_be_next_january():
    assert mentioned_dates("ngày 5/1 tới, tháng 1 tới", "2021-12-20") == ["2022-01", "2022-01-05"]
