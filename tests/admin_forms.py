"""Submit an admin change page as a browser would: every input, select and textarea of the page's
form with the value it shows, so a test changes only the fields it names."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.data: dict[str, list[str]] = {}
        self._select = None
        self._option = None
        self._textarea = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and not attrs.get("disabled"):
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(
                attrs.get("value", "on" if kind == "checkbox" else "")
            )
        elif tag == "select" and name and not attrs.get("disabled"):
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select is not None:
            self._option = attrs
        elif tag == "textarea" and name and not attrs.get("disabled"):
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None:
            if "selected" in self._option:
                self.data[self._select].append(self._option.get("value", ""))
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The browser drops the one newline Django puts after <textarea>.
            text = "".join(self._text)
            self.data.setdefault(self._textarea, []).append(text.removeprefix("\n"))
            self._textarea = None


def form_data(response, **changes) -> dict:
    """The POST data of the change form in `response`, with `changes` applied."""
    parser = _FormFields()
    parser.feed(response.content.decode())
    data = {name: values if len(values) != 1 else values[0] for name, values in parser.data.items()}
    data.pop("csrfmiddlewaretoken", None)
    data.pop("action", None)
    data.pop("_selected_action", None)
    return {**data, **changes}
