package dev.panpipe.process;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every accepted line is checked against bash itself: bash runs {@code printf '%s\0' S <line>} from a
 * script file (so the line reaches bash as bytes, whatever the JVM's argv encoding) and the NUL-separated
 * words after the sentinel S must equal {@link ShellWords#split}'s.
 */
class ShellWordsTest {
    @TempDir
    static Path dir;

    static Stream<String> acceptedLines() {
        return Stream.of(
                "grep Yost",
                "grep \"two words\" 'it''s' a\\ b",
                "", "   ", "\t",
                "''", "\"\"", "'' ''", "'' a ''", "a\"\"", "\"\"a", "a''b",
                "\"a\"'b'c",
                "'a b'\"c d\"e\\ f",
                "\"a\\\"b\"", "\"a\\\\b\"", "\"a\\b\"", "\"a\\$b\"", "\"a\\`b\"", "\"\\n\"", "'\\n'",
                "'a\\b'", "\"it's\"", "'say \"hi\"'",
                "a\\ \\ b", "\\'", "\\\"", "\\\\", "\\a\\b\\c", "\\ ", "a\\\tb",
                "a\\\nb",                      // backslash-newline joins
                "\"a\nb\"", "'a\nb'",          // quoted newlines stay
                "\"a\\\nb\"",                  // backslash-newline inside double quotes disappears
                "  leading and   trailing blanks  ",
                "tab\tseparated\t\twords",
                "sed s/a/b/g", "awk '{print $1}'", "cut -d' ' -f2", "tr -s ' '", "sed 's/ /_/g'",
                "--opt=value", "--prefix='~/x'", "a~b", "a=b", "x:y", "a=\\~", "a='~'", "a=x~", "--x=y:z",
                "'*.txt'", "\\*", "\\$HOME", "'$HOME'", "\"*\"", "\\?", "'['",
                "\"#\"x", "a#b", "x'#'", "\\#",
                "{}", "-I{}", "find . -name '*.java' -exec cat {} \\;", "'{a,b}'", "\\{a,b}", "a}", "}",
                "]", "a]b", "^x", "%x", "@x", "!x", "a!", "\"!\"", "a=b=c", "-", "--", "x,y",
                "é ü", "日本語 'ñ x'", "\"tab\tin quotes\"", "a\rb", "'|' '>' '<' '&' ';' '(' ')'",
                "\\| \\> \\< \\& \\; \\( \\)", "\"|&;<>()\"");
    }

    @ParameterizedTest
    @MethodSource("acceptedLines")
    @Timeout(20)
    void shouldSplitAsBashDoes(String line) throws Exception {
        assertEquals(bashWords(line), ShellWords.split(line), () -> "line: " + visible(line));
    }

    @Test
    @Timeout(60)
    void shouldRoundTripRandomWordsThroughJoin() throws Exception {
        long seed = Long.getLong("panpipe.test.seed", System.nanoTime());
        Random random = new Random(seed);
        String alphabet = "ab Z09 '\"\\$`*?[]{}~#=:;|&<>()!\t\né-_./,";
        for (int round = 0; round < 40; round++) {
            List<String> words = new ArrayList<>();
            int n = 1 + random.nextInt(4);
            for (int w = 0; w < n; w++) {
                StringBuilder s = new StringBuilder();
                int len = random.nextInt(6);
                for (int k = 0; k < len; k++) s.append(alphabet.charAt(random.nextInt(alphabet.length())));
                words.add(s.toString());
            }
            String line = ShellWords.join(words);
            String why = "seed " + seed + " (rerun with -Dpanpipe.test.seed=" + seed + "), words " + words + ", line " + visible(line);
            assertEquals(words, ShellWords.split(line), why);
            assertEquals(words, bashWords(line), why);   // and bash agrees the quoting is right
        }
    }

    static Stream<Arguments> refusedLines() {
        return Stream.of(
                Arguments.of("cat a | wc", 7, "operator '|'"),
                Arguments.of("echo hi > out", 9, "operator '>'"),
                Arguments.of("sort < in", 6, "operator '<'"),
                Arguments.of("a;b", 2, "operator ';'"),
                Arguments.of("sleep 1 &", 9, "operator '&'"),
                Arguments.of("(a)", 1, "operator '('"),
                Arguments.of("echo $HOME", 6, "'$'"),
                Arguments.of("echo \"$HOME\"", 7, "'$' inside double quotes"),
                Arguments.of("echo `id`", 6, "'`'"),
                Arguments.of("ls *.txt", 4, "'*'"),
                Arguments.of("ls a?", 5, "'?'"),
                Arguments.of("ls [ab]", 4, "'['"),
                Arguments.of("cd ~", 4, "'~'"),
                Arguments.of("ls ~/x", 4, "'~'"),
                Arguments.of("make PREFIX=~/x", 13, "'~'"),
                Arguments.of("x PATH=a:~/bin", 10, "'~'"),
                Arguments.of("echo a{b,c}", 7, "'{'"),
                Arguments.of("echo {1..3}", 6, "'{'"),
                Arguments.of("echo {}{a,b}", 6, "'{'"),
                Arguments.of("echo #comment", 6, "'#'"),
                Arguments.of("a\nb", 2, "newline"),
                Arguments.of("a\\", 2, "backslash at end"),
                Arguments.of("grep 'x", 6, "unterminated single quote"),
                Arguments.of("grep \"x", 6, "unterminated double quote"),
                Arguments.of("grep \"x\\\"", 6, "unterminated double quote"),
                Arguments.of("a 'b' \"c", 7, "unterminated double quote"));
    }

    @ParameterizedTest
    @MethodSource("refusedLines")
    @Timeout(10)
    void shouldRefuseWhatAShellWouldActOnNamingTheColumn(String line, int column, String what) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShellWords.split(line));
        assertTrue(e.getMessage().contains(what), e.getMessage());
        assertTrue(e.getMessage().contains(" at column " + column + " of: "), e.getMessage());
    }

    @Test
    @Timeout(10)
    void shouldQuoteOnlyWhatNeedsIt() {
        assertEquals("grep -v x", ShellWords.join(List.of("grep", "-v", "x")));
        assertEquals("grep 'two words' '' 'it'\\''s' '~' --x=1", ShellWords.join(List.of("grep", "two words", "", "it's", "~", "--x=1")));
    }

    /** The words bash gives for {@code line}, read back NUL-separated. */
    static List<String> bashWords(String line) throws IOException, InterruptedException {
        Path script = Files.createTempFile(dir, "words", ".sh");
        Files.writeString(script, "printf '%s\\0' S " + line + "\n", StandardCharsets.UTF_8);
        Process bash = new ProcessBuilder("/bin/bash", script.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        byte[] out = bash.getInputStream().readAllBytes();
        assertTrue(bash.waitFor(10, TimeUnit.SECONDS), "bash did not finish");
        assertEquals(0, bash.exitValue(), () -> "bash failed on: " + visible(line));
        Files.delete(script);
        List<String> words = new ArrayList<>(List.of(new String(out, StandardCharsets.UTF_8).split("\0", -1)));
        assertEquals("", words.removeLast(), "output ends with NUL");
        assertEquals("S", words.removeFirst(), "sentinel first");
        return words;
    }

    static String visible(String s) {
        return "[" + s.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + "]";
    }
}
