package dev.panpipe.process;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a command line into words the way a POSIX shell does (sh(1), "Token Recognition" and "Quote
 * Removal"), without running a shell: {@code grep "two words" 'it''s' a\ b} is
 * {@code [grep, two words, its, a b]}.
 *
 * <ul>
 *   <li>Blanks (space, tab) separate words outside quotes.</li>
 *   <li>{@code '...'} keeps every character literally.</li>
 *   <li>{@code "..."} keeps everything but a backslash before {@code $ ` " \} or a newline.</li>
 *   <li>An unquoted backslash quotes the next character; backslash-newline disappears.</li>
 * </ul>
 *
 * <p>There is no expansion. Rather than quietly pass on a character a shell would have acted on, this is
 * refused with an {@link IllegalArgumentException} that says which and at what column: an unquoted
 * operator ({@code | & ; < > ( )}) or newline (which ends a command), {@code $}, backquote, glob character
 * ({@code * ? [}), brace ({@code {a,b}}; a word ending in {@code {}} is let through, as bash leaves it),
 * {@code ~} at the start of a word or after {@code =} or {@code :} (bash expands {@code a=~/x}), {@code #}
 * at the start of a word (a comment), a backslash at the very end, and an unterminated quote. Quote the
 * character to mean it literally. What is accepted splits exactly as bash splits it.
 */
public final class ShellWords {
    private static final String OPERATORS = "|&;<>()";
    private static final String EXPANSIONS = "$`*?[";

    private ShellWords() {
    }

    public static List<String> split(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        boolean afterUnquotedSeparator = false;   // the previous character was an unquoted '=' or ':'
        int i = 0, n = line.length();
        while (i < n) {
            char c = line.charAt(i);
            boolean tildePosition = !inWord || afterUnquotedSeparator;
            afterUnquotedSeparator = false;
            if (c == ' ' || c == '\t') {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
                i++;
            } else if (c == '\n') {
                throw error(line, i, "unquoted newline", "a shell would end the command there; give each command as its own"
                        + " stage, or quote the newline to pass it literally");
            } else if (c == '\'') {
                int end = line.indexOf('\'', i + 1);
                if (end < 0) throw error(line, i, "unterminated single quote", null);
                word.append(line, i + 1, end);
                inWord = true;
                i = end + 1;
            } else if (c == '"') {
                i = doubleQuoted(line, i + 1, word);
                inWord = true;
            } else if (c == '\\') {
                if (i + 1 >= n) throw error(line, i, "backslash at end of line", "quote it ('\\\\') to pass it literally");
                if (line.charAt(i + 1) != '\n') {
                    word.append(line.charAt(i + 1));
                    inWord = true;
                }
                i += 2;
            } else {
                if (OPERATORS.indexOf(c) >= 0) {
                    throw error(line, i, "unquoted shell operator '" + c + "'", "give pipeline stages as separate arguments and"
                            + " redirections as options, or quote it to pass it literally");
                }
                if (EXPANSIONS.indexOf(c) >= 0 || (c == '~' && tildePosition)) {
                    throw error(line, i, "unquoted '" + c + "'", "panpipe does not expand variables, commands, globs or ~;"
                            + " quote it to pass it literally");
                }
                if (c == '{' && !endsWordAsEmptyBraces(line, i)) {
                    throw error(line, i, "unquoted '{'", "bash would try brace expansion here and panpipe does not expand;"
                            + " quote it to pass it literally");
                }
                if (c == '#' && !inWord) {
                    throw error(line, i, "unquoted '#' starting a word", "a shell would ignore the rest of the line as a comment;"
                            + " quote it to pass it literally");
                }
                word.append(c);
                inWord = true;
                afterUnquotedSeparator = c == '=' || c == ':';
                i++;
            }
        }
        if (inWord) words.add(word.toString());
        return words;
    }

    /** {@code {}} as the last thing in a word ({@code find -exec cmd {}}, {@code xargs -I{}}): bash leaves it alone. */
    private static boolean endsWordAsEmptyBraces(String line, int i) {
        if (i + 1 >= line.length() || line.charAt(i + 1) != '}') return false;
        if (i + 2 == line.length()) return true;
        char after = line.charAt(i + 2);
        return after == ' ' || after == '\t';
    }

    /**
     * The words as one command line that {@link #split} (and a shell) turns back into the same words:
     * words that need it are single-quoted. For messages that must show a command unambiguously.
     */
    public static String join(List<String> words) {
        StringBuilder s = new StringBuilder();
        for (String w : words) {
            if (!s.isEmpty()) s.append(' ');
            s.append(quote(w));
        }
        return s.toString();
    }

    /** One word, single-quoted unless it is made only of characters no shell treats specially. */
    public static String quote(String word) {
        if (!word.isEmpty() && word.chars().allMatch(ShellWords::isPlain)) return word;
        return "'" + word.replace("'", "'\\''") + "'";
    }

    private static boolean isPlain(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-_./,+@%^=:".indexOf(c) >= 0;
    }

    /** Reads a double-quoted run starting after the opening quote; returns the index after the closing one. */
    private static int doubleQuoted(String line, int i, StringBuilder word) {
        int start = i - 1;
        while (i < line.length()) {
            char c = line.charAt(i);
            if (c == '"') return i + 1;
            if (c == '\\' && i + 1 < line.length()) {
                char next = line.charAt(i + 1);
                if (next == '$' || next == '`' || next == '"' || next == '\\') {
                    word.append(next);
                    i += 2;
                    continue;
                }
                if (next == '\n') {
                    i += 2;
                    continue;
                }
            } else if (c == '$' || c == '`') {
                throw error(line, i, "'" + c + "' inside double quotes", "panpipe does not expand; use single quotes or \\" + c);
            }
            word.append(c);
            i++;
        }
        throw error(line, start, "unterminated double quote", null);
    }

    /** "WHAT at column N of: LINE -- HINT": what and where first, so a long hint cannot bury them. */
    private static IllegalArgumentException error(String line, int at, String what, String hint) {
        return new IllegalArgumentException(what + " at column " + (at + 1) + " of: " + line + (hint == null ? "" : " -- " + hint));
    }
}
