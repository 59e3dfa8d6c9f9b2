package dev.panpipe.process;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a command line into words the way a POSIX shell does (sh(1), "Token Recognition" and "Quote
 * Removal"), without running a shell: {@code grep "two words" 'it''s' a\ b} is
 * {@code [grep, two words, its, a b]}.
 *
 * <ul>
 *   <li>Blanks (space, tab, newline) separate words outside quotes.</li>
 *   <li>{@code '...'} keeps every character literally.</li>
 *   <li>{@code "..."} keeps everything but a backslash before {@code $ ` " \} or a newline.</li>
 *   <li>An unquoted backslash quotes the next character; backslash-newline disappears.</li>
 * </ul>
 *
 * <p>There is no expansion. Rather than quietly pass on a character a shell would have acted on, an
 * unquoted operator ({@code | & ; < > ( )}), {@code $}, backquote, glob character ({@code * ? [}) or
 * leading {@code ~} is refused with an {@link IllegalArgumentException} that says which and where:
 * quote it to mean it literally.
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
        int i = 0, n = line.length();
        while (i < n) {
            char c = line.charAt(i);
            if (c == ' ' || c == '\t' || c == '\n') {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
                i++;
            } else if (c == '\'') {
                int end = line.indexOf('\'', i + 1);
                if (end < 0) throw error(line, i, "unterminated single quote");
                word.append(line, i + 1, end);
                inWord = true;
                i = end + 1;
            } else if (c == '"') {
                i = doubleQuoted(line, i + 1, word);
                inWord = true;
            } else if (c == '\\') {
                if (i + 1 >= n) throw error(line, i, "backslash at end of line");
                if (line.charAt(i + 1) != '\n') {
                    word.append(line.charAt(i + 1));
                    inWord = true;
                }
                i += 2;
            } else {
                if (OPERATORS.indexOf(c) >= 0) {
                    throw error(line, i, "unquoted shell operator '" + c + "': pipeline stages are given as separate arguments and"
                            + " redirections as options; quote it to pass it literally");
                }
                if (EXPANSIONS.indexOf(c) >= 0 || (c == '~' && !inWord)) {
                    throw error(line, i, "unquoted '" + c + "': panpipe does not expand variables, commands, globs or ~;"
                            + " quote it to pass it literally");
                }
                word.append(c);
                inWord = true;
                i++;
            }
        }
        if (inWord) words.add(word.toString());
        return words;
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
                throw error(line, i, "'" + c + "' inside double quotes: panpipe does not expand; use single quotes or \\" + c);
            }
            word.append(c);
            i++;
        }
        throw error(line, start, "unterminated double quote");
    }

    private static IllegalArgumentException error(String line, int at, String what) {
        return new IllegalArgumentException(what + " at column " + (at + 1) + " of: " + line);
    }
}
