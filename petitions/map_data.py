"""Data for a petition's "Show on a map" page (templates/petitions/map.html)."""

from django.utils.safestring import SafeString, mark_safe

from .maps import hex_map_svg, legend
from .models import ConstituencyPetitionJournal, Petition


def petition_map_context(*, petition: Petition) -> dict:
    """Template context: the hex map SVG, its legend and the table rows. One query.

    `rows` lists every constituency with signatures, most signatures first (the accessible
    alternative to the map), as dicts with gss_code, name, mp_name, party, region, signature_count.
    """
    journals = (
        ConstituencyPetitionJournal.objects.filter(petition=petition, signature_count__gt=0)
        .select_related("constituency__region")
        .order_by("-signature_count", "constituency__name")
    )
    rows = [
        {
            "gss_code": j.constituency.gss_code,
            "name": j.constituency.name,
            "mp_name": j.constituency.mp_name,
            "party": j.constituency.party,
            "region": j.constituency.region.name,
            "signature_count": j.signature_count,
        }
        for j in journals
    ]
    counts = {row["gss_code"]: row["signature_count"] for row in rows}
    bins = legend(counts)
    title = (
        f"Hex map of signatures by constituency for the petition \u201c{petition.action}\u201d."
        " The table below lists the same figures."
    )
    # hex_map_svg escapes every name and the title itself, so the markup is safe.
    svg: SafeString = mark_safe(hex_map_svg(counts, title=title, bins=bins))  # noqa: S308
    return {"petition": petition, "svg": svg, "legend": bins, "rows": rows}
