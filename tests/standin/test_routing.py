"""Routing as koa-router does it in Logto (notes/logto-observed.md, "Management API")."""

from tests.standin.conftest import DEMO


def test_a_trailing_slash_reaches_the_same_route(logto):
    """logto-observed.md "Routing is not strict about a trailing slash": `DELETE /api/organizations/{id}/` deleted
    the organization (204); GET/PATCH with a trailing slash work too (koa-router's default `strict: false`)."""
    assert logto.api("GET", f"/organizations/{DEMO}/").get_json()["id"] == DEMO
    assert logto.api("PATCH", f"/organizations/{DEMO}/", json={"description": "x"}).status_code == 200
    assert logto.api("GET", f"/organizations/{DEMO}/users/", query_string={"page": 1}).status_code == 200
    assert logto.api("DELETE", f"/organizations/{DEMO}/").status_code == 204
    assert logto.api("GET", f"/organizations/{DEMO}").status_code == 404


def test_a_known_path_with_a_method_it_lacks_is_405_plain_text(logto):
    """logto-observed.md: "A known path with a method it lacks is 405 plain text ("Method Not Allowed"), e.g.
    `DELETE /api/organizations/{id}/users/`" (koa-router allowedMethods()). Routing comes before authentication."""
    for headers in ({}, {"Authorization": f"Bearer {logto.m2m}"}):
        response = logto.client.delete(f"/api/organizations/{DEMO}/users/", headers=headers)
        assert response.status_code == 405
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == "Method Not Allowed"
        assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert logto.api("GET", f"/organizations/{DEMO}/users", query_string={"page": 1}).status_code == 200  # untouched


def test_an_unknown_path_is_404_plain_text(logto):
    """logto-observed.md: "an unknown path is 404 plain text "Not Found" (no JSON, no `code`)"; a double slash
    matches no route either (path-to-regexp allows one optional trailing slash)."""
    for path in ("/api/nothing-here", f"/api/organizations/{DEMO}/nothing", f"/api/organizations/{DEMO}//"):
        response = logto.client.get(path, headers={"Authorization": f"Bearer {logto.m2m}"})
        assert response.status_code == 404, path
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == "Not Found"
