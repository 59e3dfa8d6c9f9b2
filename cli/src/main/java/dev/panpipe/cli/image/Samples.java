package dev.panpipe.cli.image;

import dev.panpipe.pixel.PixelFrame;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.foreign.SegmentAllocator;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * The sample images built into panpipe ({@code dev/panpipe/cli/samples/} in the cli jar), for
 * {@code panpipe convert} without {@code --in}: synthetic and deterministic, made by the cli tests'
 * {@code SampleGenerator} (which also writes the {@code index.txt} listing them).
 */
public final class Samples {
    static final String DIR = "/dev/panpipe/cli/samples/";

    private Samples() {
    }

    /** The samples' file names, e.g. {@code gradient-640x480.png}, in index order. */
    public static List<String> names() {
        try (InputStream in = Samples.class.getResourceAsStream(DIR + "index.txt")) {
            if (in == null) throw new IllegalStateException("the cli jar has no " + DIR + "index.txt");
            return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines()
                    .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bytes of sample {@code name} (one of {@link #names()}); the caller closes the stream. */
    public static InputStream open(String name) {
        if (!names().contains(name)) throw new NoSuchElementException("no sample image " + name + "; there are " + names());
        InputStream in = Samples.class.getResourceAsStream(DIR + name);
        if (in == null) throw new IllegalStateException("sample " + name + " is listed but not in the jar");
        return in;
    }

    /** Sample {@code name} decoded into a packed RGB8 frame from {@code allocator} (see {@link ImageFiles#read}). */
    public static PixelFrame read(String name, SegmentAllocator allocator) throws IOException {
        try (InputStream in = open(name)) {
            return ImageFiles.read(in, "sample:" + name, allocator);
        }
    }
}
