"""The navigation bar. Each app registers its own links in its AppConfig.ready(), so that the
bottom apps need not know the top ones."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavLink:
    label: str
    url_name: str
    roles: frozenset[str]
    order: int = 50


_LINKS: list[NavLink] = []


def nav_link_register(*, label: str, url_name: str, roles: set[str] | frozenset[str], order: int = 50) -> None:
    link = NavLink(label=label, url_name=url_name, roles=frozenset(roles), order=order)
    if link not in _LINKS:
        _LINKS.append(link)


def nav_links_for_role(*, role: str, current_path: str) -> list[dict[str, object]]:
    links = []
    for link in sorted(_LINKS, key=lambda item: (item.order, item.label)):
        if role not in link.roles:
            continue
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:
            continue
        is_active = current_path == url if url == "/" else current_path.startswith(url)
        links.append({"label": link.label, "url": url, "is_active": is_active})
    return links
