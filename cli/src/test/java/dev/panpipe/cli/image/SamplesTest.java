package dev.panpipe.cli.image;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class SamplesTest {
    static final Pattern SIZE = Pattern.compile("-(\\d+)x(\\d+)\\.");

    @Test
    void shouldListEverySampleTheGeneratorMakes() {
        assertEquals(List.copyOf(SampleGenerator.images().keySet()), Samples.names());
    }

    @Test
    void shouldDecodeEachSampleAtTheSizeInItsName() throws IOException {
        long total = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (String name : Samples.names()) {
                PixelFrame f = Samples.read(name, arena);
                Matcher m = SIZE.matcher(name);
                assertTrue(m.find(), name);
                assertEquals(Integer.parseInt(m.group(1)), f.width(), name);
                assertEquals(Integer.parseInt(m.group(2)), f.height(), name);
                assertEquals(PixelFormat.RGB8, f.format());
                assertEquals(f.width() * 3, f.stride());
                try (InputStream in = Samples.open(name)) {
                    total += in.readAllBytes().length;
                }
            }
        }
        assertTrue(total < 2_000_000, "samples take " + total + " bytes");
    }

    /** The committed PNGs hold exactly what the generator makes today (JPEG encoders may change between JDKs). */
    @Test
    void shouldHoldTheGeneratorsPixels() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            for (Map.Entry<String, BufferedImage> e : SampleGenerator.images().entrySet()) {
                if (!e.getKey().endsWith(".png")) continue;
                PixelFrame committed = Samples.read(e.getKey(), arena);
                byte[] fresh = SampleGenerator.encode(e.getKey(), e.getValue());
                PixelFrame generated = ImageFiles.read(new ByteArrayInputStream(fresh), "generated " + e.getKey(), arena);
                assertEquals(-1, committed.pixels().mismatch(generated.pixels()), e.getKey() + " differs from SampleGenerator's");
            }
        }
    }

    @Test
    void shouldRefuseAnUnknownName() {
        NoSuchElementException e = assertThrows(NoSuchElementException.class, () -> Samples.open("nope.png"));
        assertTrue(e.getMessage().contains("nope.png"), e.getMessage());
    }

    /** Not a test: rewrites the committed samples when asked (see SampleGenerator). */
    @Test
    @EnabledIfSystemProperty(named = "panpipe.samples.write", matches = ".+")
    void regenerate() throws IOException {
        SampleGenerator.writeAll(Path.of(System.getProperty("panpipe.samples.write")));
    }
}
