package dev.panpipe.cli.image;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Makes panpipe's built-in sample images ({@code cli/src/main/resources/dev/panpipe/cli/samples/}): synthetic,
 * from integer arithmetic and {@link StrictMath} only (no fonts, no Java2D rendering), so the same pixels
 * come out on every JDK. Each exercises one case of {@link ImageFiles#read}: RGB, 8-bit gray, 16-bit gray,
 * a palette, alpha, an odd width, JPEG.
 *
 * <p>Regenerate (and commit the result) with
 * {@code panpipe_mvn -o verify -pl cli -am -Dtest=SamplesTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dpanpipe.samples.write=$PWD/cli/src/main/resources/dev/panpipe/cli/samples}.
 * SamplesTest checks on every run that the committed PNGs still hold exactly these pixels.
 */
public final class SampleGenerator {
    private SampleGenerator() {
    }

    /** File name to image, in index order. */
    public static Map<String, BufferedImage> images() {
        Map<String, BufferedImage> images = new LinkedHashMap<>();
        images.put("gradient-640x480.png", gradient(640, 480));
        images.put("shapes-800x600.png", shapes(800, 600));
        images.put("text-720x200.png", text(720, 200));
        images.put("gray-512x384.png", gray(512, 384));
        images.put("gray16-300x200.png", gray16(300, 200));
        images.put("palette-320x240.png", palette(320, 240));
        images.put("alpha-400x300.png", alpha(400, 300));
        images.put("odd-641x359.png", plasma(641, 359));
        images.put("photo-1024x768.jpg", shapes(1024, 768));
        return images;
    }

    /** The bytes of a file as written: PNG, or JPEG at quality 0.9 for a .jpg name. */
    public static byte[] encode(String name, BufferedImage image) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (name.endsWith(".jpg")) {
            ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(0.9f);
            try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
                writer.setOutput(out);
                writer.write(null, new IIOImage(image, null, null), param);
            } finally {
                writer.dispose();
            }
        } else if (!ImageIO.write(image, "png", bytes)) {
            throw new IOException("no PNG writer");
        }
        return bytes.toByteArray();
    }

    /** Writes every sample and index.txt into {@code dir}. */
    public static void writeAll(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder index = new StringBuilder("# panpipe's sample images, made by SampleGenerator (cli test sources)\n");
        for (Map.Entry<String, BufferedImage> e : images().entrySet()) {
            Files.write(dir.resolve(e.getKey()), encode(e.getKey(), e.getValue()));
            index.append(e.getKey()).append('\n');
        }
        Files.writeString(dir.resolve("index.txt"), index.toString(), StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws IOException {
        writeAll(Path.of(args.length > 0 ? args[0] : "cli/src/main/resources/dev/panpipe/cli/samples"));
    }

    private static int rgb(int r, int g, int b) {
        return (clamp(r) << 16) | (clamp(g) << 8) | clamp(b);
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    /** R across, G down, B along the diagonal: every level of R and G appears. */
    static BufferedImage gradient(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb(x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 255 / (w + h - 2)));
            }
        }
        return img;
    }

    /** Discs, rectangles and a triangle with hard edges on a soft background. */
    static BufferedImage shapes(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int c = rgb(40 + 60 * y / h, 70 + 80 * x / w, 120 + 100 * (w - x) / w);
                int dx = x - w / 3, dy = y - h / 2;
                if (dx * dx + dy * dy < (h / 4) * (h / 4)) c = rgb(230, 60 + (dx + dy & 63), 40);
                if (x > w / 2 && x < w * 5 / 6 && y > h / 8 && y < h * 3 / 8) c = rgb(250, 220, 30);
                if (x > w * 11 / 20 && x < w * 9 / 10 && y > h * 5 / 8 && y < h * 7 / 8) c = rgb(20, 30, 40 + 200 * (x - w * 11 / 20) / (w * 7 / 20));
                int tx = x - w * 3 / 4, ty = y - h / 2;          // a triangle pointing up, 1/4 of the height
                if (ty > -h / 8 && ty < h / 8 && Math.abs(tx) * 4 < (ty + h / 8) * 2) c = rgb(250, 250, 250);
                int ex = x - w / 6, ey = y - h * 4 / 5;           // a small ring
                int r2 = ex * ex + ey * ey;
                if (r2 < (h / 10) * (h / 10) && r2 > (h / 14) * (h / 14)) c = rgb(10, 200, 90);
                img.setRGB(x, y, c);
            }
        }
        return img;
    }

    /** 5x7 glyphs, one row of five bits each, most significant bit leftmost. */
    private static final String CHARS = "PANIEOCVRTGYBL0123456789 ";
    private static final int[][] GLYPHS = {
            {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, // P
            {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, // A
            {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}, // N
            {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, // I
            {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, // E
            {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, // O
            {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, // C
            {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, // V
            {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, // R
            {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, // T
            {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, // G
            {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}, // Y
            {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, // B
            {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, // L
            {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, // 0
            {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, // 1
            {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, // 2
            {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, // 3
            {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, // 4
            {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, // 5
            {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, // 6
            {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, // 7
            {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, // 8
            {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, // 9
            {0, 0, 0, 0, 0, 0, 0},                      // space
    };

    /** Lines of blocky text, each in its own colour on a striped paper: sharp edges, like a scanned page. */
    static BufferedImage text(int w, int h) {
        String[] lines = {"PANPIPE CONVERT", "RGB BGR GRAY", "0123456789", "OPEN CV ORACLE"};
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) img.setRGB(x, y, (y / 4) % 2 == 0 ? rgb(250, 248, 240) : rgb(240, 238, 228));
        }
        int scale = 4;
        int[] colours = {rgb(20, 20, 20), rgb(180, 30, 30), rgb(30, 90, 180), rgb(20, 130, 60)};
        for (int l = 0; l < lines.length; l++) {
            int top = 8 + l * 8 * scale + l * 16;
            for (int i = 0; i < lines[l].length(); i++) {
                int[] glyph = GLYPHS[CHARS.indexOf(lines[l].charAt(i))];
                int left = 12 + i * 6 * scale;
                for (int gy = 0; gy < 7; gy++) {
                    for (int gx = 0; gx < 5; gx++) {
                        if ((glyph[gy] >> (4 - gx) & 1) == 0) continue;
                        for (int sy = 0; sy < scale; sy++) {
                            for (int sx = 0; sx < scale; sx++) {
                                int px = left + gx * scale + sx, py = top + gy * scale + sy;
                                if (px < w && py < h) img.setRGB(px, py, colours[l]);
                            }
                        }
                    }
                }
            }
        }
        return img;
    }

    /** 8-bit gray: concentric rings over a horizontal ramp. */
    static BufferedImage gray(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        WritableRaster r = img.getRaster();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int dx = x - w / 2, dy = y - h / 2;
                int ring = (int) StrictMath.sqrt(dx * dx + dy * dy) / 12 % 2;
                r.setSample(x, y, 0, ring == 0 ? x * 255 / (w - 1) : 255 - y * 255 / (h - 1));
            }
        }
        return img;
    }

    /** 16-bit gray whose low bytes vary too, so that truncating and rounding to 8 bits would differ. */
    static BufferedImage gray16(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
        WritableRaster r = img.getRaster();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) r.setSample(x, y, 0, (x * 65535 / (w - 1) + y * 97) & 0xffff);
        }
        return img;
    }

    /** An 8-bit palette of 16 colours (the last one transparent in the palette), in tiles and stripes. */
    static BufferedImage palette(int w, int h) {
        int n = 16;
        byte[] r = new byte[n], g = new byte[n], b = new byte[n], a = new byte[n];
        for (int i = 0; i < n; i++) {
            r[i] = (byte) (i * 17);
            g[i] = (byte) (255 - i * 13);
            b[i] = (byte) ((i * 71) & 0xff);
            a[i] = (byte) (i == n - 1 ? 0 : 255);
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, n, r, g, b, a));
        WritableRaster raster = img.getRaster();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) raster.setSample(x, y, 0, ((x / 20) + (y / 15) * 3 + (x + y) / 50) % n);
        }
        return img;
    }

    /** RGBA, not premultiplied: alpha falls from left to right; colour stays under alpha 0. */
    static BufferedImage alpha(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_4BYTE_ABGR);
        WritableRaster r = img.getRaster();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                r.setSample(x, y, 0, 255 * y / (h - 1));
                r.setSample(x, y, 1, (x / 25 + y / 25) % 2 == 0 ? 200 : 40);
                r.setSample(x, y, 2, 255 - 255 * y / (h - 1));
                r.setSample(x, y, 3, x < w / 10 ? 0 : 255 - 255 * x / (w - 1));
            }
        }
        return img;
    }

    /** A sine "plasma" at an odd width (rows of 1923 bytes): smooth and different in every channel. */
    static BufferedImage plasma(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double v = StrictMath.sin(x / 23.0) + StrictMath.sin(y / 17.0) + StrictMath.sin((x + y) / 31.0)
                        + StrictMath.sin(StrictMath.sqrt((double) x * x + (double) y * y) / 19.0);
                int r = (int) (128 + 127 * StrictMath.sin(v * StrictMath.PI / 2));
                int g = (int) (128 + 127 * StrictMath.sin(v * StrictMath.PI / 2 + 2.1));
                int b = (int) (128 + 127 * StrictMath.sin(v * StrictMath.PI / 2 + 4.2));
                img.setRGB(x, y, rgb(r, g, b));
            }
        }
        return img;
    }
}
