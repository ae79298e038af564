"""The NOC wall: a live network map and problem list served by the daemon at `/`.

`model.build_wall` makes the JSON document from the engine's snapshots (pure);
`layout` places the map's nodes; `service.WallService` refreshes the document and
answers the HTTP routes; `static/` holds the page (hand-written HTML, CSS and JS, no
third-party code, nothing fetched from the internet). See docs/wall.md.
"""
