package dev.panpipe.cli.image;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.testing.OpenCvOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ImageFiles} against OpenCV: the samples read as {@code cv2.imread(f, cv2.IMREAD_COLOR)} then BGR to RGB
 * reads them (PNGs byte for byte, the JPEG within a bound), and the PNGs panpipe writes read back by
 * {@code cv2.imread(f, cv2.IMREAD_UNCHANGED)} as the bytes written. Skipped when /usr/bin/python3 has no cv2.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class ImageFilesOpenCvTest {
    /** For each file named after the mode: its pixels packed, RGB(A) or gray, in FILE.cv, and its shape on stdout. */
    static final String READ = """
            import sys, cv2
            flag = cv2.IMREAD_COLOR if sys.argv[1] == 'color' else cv2.IMREAD_UNCHANGED
            for name in sys.argv[2:]:
                img = cv2.imread(name, flag)
                if img is None:
                    sys.exit('cv2 cannot read ' + name)
                if img.ndim == 3:
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
                img.tofile(name + '.cv')
                print(name, 'x'.join(map(str, img.shape)), img.dtype)
            """;

    /**
     * How far the JDK's JPEG decoding of the sample may be from OpenCV's (libjpeg-turbo), per channel value.
     * Measured: 0 (identical) with JDK 25 and OpenCV 4.6 on Debian 12; decoders are free to round their
     * IDCT and chroma upsampling differently, so other versions are given a little room.
     */
    static final int JPEG_MAX_DIFF = 2;

    @TempDir
    Path dir;

    @Test
    void shouldReadTheSamplesAsOpenCvDoes() throws Exception {
        OpenCvOracle.assumeAvailable();
        List<String> args = new ArrayList<>(List.of("color"));
        for (String name : Samples.names()) {
            try (InputStream in = Samples.open(name)) {
                Files.write(dir.resolve(name), in.readAllBytes());
            }
            args.add(name);
        }
        String out = OpenCvOracle.check(dir, READ, args.toArray(String[]::new));
        StringBuilder report = new StringBuilder();
        try (Arena arena = Arena.ofConfined()) {
            for (String name : Samples.names()) {
                PixelFrame ours = Samples.read(name, arena);
                MemorySegment theirs = MemorySegment.ofArray(Files.readAllBytes(dir.resolve(name + ".cv")));
                assertTrue(out.contains(name + " " + ours.height() + "x" + ours.width() + "x3 uint8"), out);
                assertEquals(ours.byteSize(), theirs.byteSize(), name);
                if (name.endsWith(".png")) {
                    long m = ours.pixels().mismatch(theirs);
                    assertEquals(-1, m, () -> name + ": first difference at byte " + m + " (pixel " + m / 3 % ours.width() + "," + m / 3 / ours.width()
                            + "): panpipe " + (ours.pixels().get(ValueLayout.JAVA_BYTE, m) & 0xff) + ", OpenCV " + (theirs.get(ValueLayout.JAVA_BYTE, m) & 0xff));
                } else {
                    int max = 0;
                    long sum = 0;
                    long differing = 0;
                    for (long i = 0; i < theirs.byteSize(); i++) {
                        int d = Math.abs((ours.pixels().get(ValueLayout.JAVA_BYTE, i) & 0xff) - (theirs.get(ValueLayout.JAVA_BYTE, i) & 0xff));
                        max = Math.max(max, d);
                        sum += d;
                        if (d != 0) differing++;
                    }
                    report.append(String.format("%s: max diff %d, mean %.3f, %.1f%% of values differ%n", name, max, (double) sum / theirs.byteSize(),
                            100.0 * differing / theirs.byteSize()));
                    assertTrue(max <= JPEG_MAX_DIFF, report.toString());
                }
            }
        }
        System.out.print(report);
    }

    @Test
    void shouldWritePngsOpenCvReadsAsWritten() throws Exception {
        OpenCvOracle.assumeAvailable();
        Random random = new Random(7);
        try (Arena arena = Arena.ofConfined()) {
            List<PixelFrame> frames = new ArrayList<>();
            List<String> args = new ArrayList<>(List.of("unchanged"));
            int i = 0;
            for (PixelFormat format : new PixelFormat[]{PixelFormat.GRAY8, PixelFormat.RGB8, PixelFormat.BGR8, PixelFormat.RGBA8}) {
                for (int[] size : new int[][]{{1, 1}, {641, 359}, {64, 3}}) {
                    int stride = size[0] * format.bytesPerPixel() + random.nextInt(5);
                    byte[] bytes = new byte[stride * size[1]];
                    random.nextBytes(bytes);
                    PixelFrame f = new PixelFrame(size[0], size[1], stride, format, arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes));
                    String name = "w" + i++ + "-" + format + ".png";
                    ImageFiles.writePng(f, dir.resolve(name));
                    frames.add(f);
                    args.add(name);
                }
            }
            String out = OpenCvOracle.check(dir, READ, args.toArray(String[]::new));
            for (int k = 0; k < frames.size(); k++) {
                PixelFrame f = frames.get(k);
                String name = args.get(k + 1);
                String shape = f.height() + "x" + f.width() + switch (f.format()) {
                    case GRAY8 -> "";
                    case RGBA8 -> "x4";
                    default -> "x3";
                };
                assertTrue(out.contains(name + " " + shape + " uint8"), name + ": " + out);
                byte[] theirs = Files.readAllBytes(dir.resolve(name + ".cv"));
                int rowBytes = f.width() * f.format().bytesPerPixel();
                for (int y = 0; y < f.height(); y++) {
                    long m = f.pixels().asSlice((long) y * f.stride(), rowBytes).mismatch(MemorySegment.ofArray(theirs).asSlice((long) y * rowBytes, rowBytes));
                    assertEquals(-1, m, name + " row " + y);
                }
            }
        }
    }
}
