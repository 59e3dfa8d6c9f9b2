package dev.panpipe.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class JsonTest {
    @Test
    @Timeout(10)
    void shouldEscapeSoThatAJsonParserGetsTheSameStringBack() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        StringBuilder controls = new StringBuilder();
        for (char c = 0; c < 0x20; c++) controls.append(c);
        for (String s : List.of("", "plain", "quote \" and \\ backslash", "/tmp/a b/x.in", controls.toString(), "tab\there\r\n",
                "naïve ünïcode ✓ \uD83D\uDE00", "line\u2028separator\u2029", "\u007f delete")) {
            assertEquals(s, mapper.readValue(Json.string(s), String.class), s);
        }
        assertEquals("null", Json.string(null));
    }
}
