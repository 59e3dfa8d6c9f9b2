package dev.panpipe.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExpectScriptTest {
    private static final List<String> CHILDREN = List.of("A", "server-1");

    @TempDir
    Path dir;

    @Test
    @Timeout(10)
    void shouldReadSendAndExpectStepsWithTheirLineNumbers() throws Exception {
        Path file = Files.writeString(dir.resolve("s.txt"), """
                # a comment

                send A hello  world
                send A
                  expect server-1 listening on (\\d+) 5s
                expect A ^hello  world$
                expect A two words 1.5s
                expect A ends in 5s but no unit 5
                """);
        ExpectScript script = ExpectScript.read(file, CHILDREN);
        List<ExpectScript.Step> steps = script.steps();
        assertEquals(6, steps.size());
        assertEquals(new ExpectScript.Send(3, "A", "hello  world"), steps.get(0));
        assertEquals(new ExpectScript.Send(4, "A", ""), steps.get(1));
        ExpectScript.Expect listening = (ExpectScript.Expect) steps.get(2);
        assertEquals(5, listening.line());
        assertEquals("server-1", listening.child());
        assertEquals("listening on (\\d+)", listening.pattern().pattern());
        assertEquals(Duration.ofSeconds(5), listening.timeout());
        assertEquals(ExpectScript.DEFAULT_TIMEOUT, ((ExpectScript.Expect) steps.get(3)).timeout());
        assertEquals("^hello  world$", ((ExpectScript.Expect) steps.get(3)).pattern().pattern());
        assertEquals(Duration.ofMillis(1500), ((ExpectScript.Expect) steps.get(4)).timeout());
        assertEquals("ends in 5s but no unit 5", ((ExpectScript.Expect) steps.get(5)).pattern().pattern());
    }

    @Test
    @Timeout(10)
    void shouldNameTheLineAndWhatIsWrong() {
        assertEquals("unknown command 'sned' (use: send NAME text, expect NAME regex [timeout])", error("sned A hi"));
        assertEquals("no child named 'B' (children: A, server-1)", error("send B hi"));
        assertEquals("expect needs a child's NAME", error("expect"));
        assertEquals("expect needs a regex after the NAME", error("expect A   "));
        assertEquals("5s", ((ExpectScript.Expect) ExpectScript.parse(1, "expect A 5s", CHILDREN)).pattern().pattern(),
                "a lone word is the regex, even if it looks like a timeout");
        assertTrue(error("expect A (unclosed").startsWith("bad regex /(unclosed/: "), error("expect A (unclosed"));
        assertNull(ExpectScript.parse(1, "   # indented comment", CHILDREN));
    }

    @Test
    @Timeout(10)
    void shouldParseDurationsWithTheirUnit() {
        assertEquals(Duration.ofMillis(500), Durations.parse("500ms"));
        assertEquals(Duration.ofSeconds(5), Durations.parse("5s"));
        assertEquals(Duration.ofMillis(250), Durations.parse("0.25s"));
        assertEquals(Duration.ofMinutes(2), Durations.parse("2m"));
        for (String bad : List.of("5", "s", "-1s", "1h", "5 s", "")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Durations.parse(bad));
            assertTrue(e.getMessage().startsWith("bad duration '" + bad + "'"), e.getMessage());
        }
    }

    private static String error(String line) {
        return assertThrows(IllegalArgumentException.class, () -> ExpectScript.parse(1, line, CHILDREN)).getMessage();
    }
}
