"""Staff-written Markdown (government responses, consultations, debate summaries), rendered safely.

`markdown_html` is for pages and HTML email: Markdown, then nh3 keeps only a short list of tags, `href`/`title`
on links and the http(s)/mailto schemes, so raw HTML, `<script>` and `javascript:` links never survive.
`markdown_text` is for plain-text email and the JSON API (the reference's `details` is plain text): the same
sanitised HTML flattened to paragraphs, "- " bullets, numbered items and "text (url)" links.
"""

from html.parser import HTMLParser

import markdown as md
import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "code",
    "pre",
}
# h1 is not allowed: Markdown "# x" becomes plain text rather than a second page title.
HEADING_CLASSES = {3: "govuk-heading-m", 4: "govuk-heading-s", 5: "govuk-heading-s"}
ALLOWED_URL_SCHEMES = {"https", "http", "mailto"}


def markdown_sanitised(value) -> str:
    """Markdown to HTML with nothing but ALLOWED_TAGS, no classes: the common ground of the two renderings."""
    if not value:
        return ""
    html = md.markdown(str(value).replace("\x00", ""), extensions=["sane_lists"])
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def markdown_html(value) -> str:
    """Sanitised HTML with GOV.UK Frontend classes (the caller marks it safe)."""
    clean = markdown_sanitised(value)
    if not clean:
        return ""
    # Staff headings sit inside a section that already has an h2, so they step down one level.
    for level in (4, 3, 2):
        clean = clean.replace(f"<h{level}>", f'<h{level + 1} class="{HEADING_CLASSES[level + 1]}">')
        clean = clean.replace(f"</h{level}>", f"</h{level + 1}>")
    clean = clean.replace("<p>", '<p class="govuk-body">').replace(
        "<ul>", '<ul class="govuk-list govuk-list--bullet">'
    )
    return clean.replace("<ol>", '<ol class="govuk-list govuk-list--number">').replace(
        "<a ", '<a class="govuk-link" '
    )


class _TextWriter(HTMLParser):
    BLOCKS = {"p", "h2", "h3", "h4", "blockquote", "pre", "ul", "ol"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, is a list item)
        self.in_item = False
        self.line: list[str] = []
        self.lists: list[list] = []  # [kind, next number]
        self.href: str | None = None
        self.link_text: list[str] = []

    def _flush(self):
        text = "".join(self.line).lstrip("\n").rstrip()
        if text.strip():
            self.blocks.append((text, self.in_item))
        self.line = []
        self.in_item = False

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS or tag == "li":
            self._flush()
        if tag in ("ul", "ol"):
            self.lists.append([tag, 1])
        elif tag == "li" and self.lists:
            self.in_item = True
            kind, number = self.lists[-1]
            indent = "  " * (len(self.lists) - 1)
            self.line.append(f"{indent}- " if kind == "ul" else f"{indent}{number}. ")
            self.lists[-1][1] += 1
        elif tag == "br":
            self.line.append("\n")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []

    def handle_endtag(self, tag):
        if tag == "a":
            text = "".join(self.link_text)
            href = self.href
            self.href = None
            if href and href != text.strip():
                self.line.append(f" ({href})")
        elif tag in ("ul", "ol") and self.lists:
            self._flush()
            self.lists.pop()
            if not self.lists:
                self.blocks.append(("", False))  # the end of a list: what follows is a new paragraph
        elif tag in self.BLOCKS or tag == "li":
            self._flush()

    def handle_data(self, data):
        if self.href is not None:
            self.link_text.append(data)
        self.line.append(data if self.lists or self.line else data.lstrip())

    def text(self) -> str:
        self._flush()
        out: list[str] = []
        previous_item = False
        for text, is_item in self.blocks:
            if not text:
                previous_item = False
                continue
            # List items follow each other line by line; everything else is a paragraph.
            if out:
                out.append("\n" if is_item and previous_item else "\n\n")
            out.append(text)
            previous_item = is_item
        return "".join(out)


def markdown_text(value) -> str:
    """Plain text of the sanitised Markdown (no tags, no markup), for text email and the JSON API."""
    clean = markdown_sanitised(value)
    if not clean:
        return ""
    writer = _TextWriter()
    writer.feed(clean)
    writer.close()
    return writer.text()
