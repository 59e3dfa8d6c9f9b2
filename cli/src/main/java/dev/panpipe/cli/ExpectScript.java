package dev.panpipe.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The {@code --expect-file} of {@code panpipe mux}: what to send and what to wait for before interactive use.
 *
 * <pre>
 * # comments and blank lines are ignored
 * send NAME text            text (the rest of the line, as it is) and a newline to NAME's stdin
 * expect NAME regex         wait for a line from NAME in which regex is found (java.util.regex), 10s at most
 * expect NAME regex 500ms   ... with a timeout: a last word that is a number with ms, s or m
 * </pre>
 */
record ExpectScript(Path file, List<Step> steps) {
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** One line of the script; {@code line} is its number in the file, for messages. */
    sealed interface Step permits Send, Expect {
        int line();

        String child();
    }

    record Send(int line, String child, String text) implements Step {
    }

    record Expect(int line, String child, Pattern pattern, Duration timeout) implements Step {
    }

    /**
     * Reads and checks the whole file.
     *
     * @throws IllegalArgumentException "FILE:LINE: what is wrong", for a syntax error, a bad regex or timeout,
     *         or a child that is not in {@code children}, or bytes that are not UTF-8
     * @throws IOException if the file cannot be read
     */
    static ExpectScript read(Path file, Collection<String> children) throws IOException {
        List<String> lines = utf8Lines(file);
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            try {
                Step step = parse(i + 1, lines.get(i), children);
                if (step != null) steps.add(step);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        return new ExpectScript(file, List.copyOf(steps));
    }

    /** The file's lines; bytes that are not UTF-8 are an error naming their line ("FILE:LINE: not UTF-8 text"). */
    private static List<String> utf8Lines(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            int line = 1;
            for (int i = 0; i < in.position(); i++) if (bytes[i] == '\n') line++;
            throw new IllegalArgumentException(file + ":" + line + ": not UTF-8 text");
        }
        return out.flip().toString().lines().toList();
    }

    static Step parse(int number, String line, Collection<String> children) {
        String s = line.stripLeading();
        if (s.isEmpty() || s.startsWith("#")) return null;
        String[] head = s.split("[ \t]+", 3);
        String verb = head[0];
        if (!verb.equals("send") && !verb.equals("expect")) {
            throw new IllegalArgumentException("unknown command '" + verb + "' (use: send NAME text, expect NAME regex [timeout])");
        }
        if (head.length < 2) throw new IllegalArgumentException(verb + " needs a child's NAME");
        String child = head[1];
        if (!children.contains(child)) {
            throw new IllegalArgumentException("no child named '" + child + "' (children: " + String.join(", ", children) + ")");
        }
        String rest = head.length == 3 ? head[2] : "";
        if (verb.equals("send")) {
            // The text as written: only the one separator after NAME is dropped, so leading blanks count.
            int at = s.indexOf(child, verb.length()) + child.length();
            return new Send(number, child, at < s.length() ? s.substring(at + 1) : "");
        }
        rest = rest.strip();
        Duration timeout = DEFAULT_TIMEOUT;
        int lastBlank = Math.max(rest.lastIndexOf(' '), rest.lastIndexOf('\t'));
        if (lastBlank > 0 && Durations.isDuration(rest.substring(lastBlank + 1))) {
            timeout = Durations.parse(rest.substring(lastBlank + 1));
            rest = rest.substring(0, lastBlank).strip();
        }
        if (rest.isEmpty()) throw new IllegalArgumentException("expect needs a regex after the NAME");
        try {
            return new Expect(number, child, Pattern.compile(rest), timeout);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("bad regex /" + rest + "/: " + e.getDescription(), e);
        }
    }
}
