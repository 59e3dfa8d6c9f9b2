package dev.panpipe.cli;

/**
 * Just enough JSON for {@code --json} output: strings escaped per RFC 8259 (quote, backslash and every
 * control character; everything else, including non-ASCII, as it is, the output being UTF-8).
 */
final class Json {
    private Json() {
    }

    /** {@code text} as a JSON string literal, quotes included; null as {@code null}. */
    static String string(String text) {
        if (text == null) return "null";
        StringBuilder s = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                case '\b' -> s.append("\\b");
                case '\f' -> s.append("\\f");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.append('"').toString();
    }
}
