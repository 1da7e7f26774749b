package dev.keel.eval;

import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The report's charts, drawn by XChart as inline SVG. */
final class ReportCharts {
    private static final Color[] PALETTE = {new Color(0x44, 0x44, 0x44), new Color(0x1f, 0x77, 0xb4),
        new Color(0xff, 0x7f, 0x0e), new Color(0x2c, 0xa0, 0x2c), new Color(0xd6, 0x27, 0x28),
        new Color(0x94, 0x67, 0xbd), new Color(0x8c, 0x56, 0x4b), new Color(0xe3, 0x77, 0xc2),
        new Color(0x7f, 0x7f, 0x7f), new Color(0xbc, 0xbd, 0x22), new Color(0x17, 0xbe, 0xcf)};

    private ReportCharts() {}

    /**
     * Gold reward against KL to the SFT model: every evaluation along every run (means over seeds), one series
     * per method family, with 95% intervals over seeds on both axes when there are several seeds.
     */
    static XYChart frontier(Summary s, int w, int h) {
        XYChart c = new XYChartBuilder().width(w).height(h)
                .title("Gold reward against KL to the SFT model"
                        + (s.seeds() > 1 ? " (" + s.seeds() + " seeds, 95% intervals)" : ""))
                .xAxisTitle("KL(\u03c0 \u2016 \u03c0_SFT), nats per completion")
                .yAxisTitle("mean gold reward (VADER compound)").build();
        style(c);
        c.getStyler().setErrorBarsColorSeriesColor(true);
        Map<String, List<Summary.PathMean>> fam = new LinkedHashMap<>();
        for (Summary.Row r : s.rows()) {
            fam.computeIfAbsent(r.family().label(), k -> new ArrayList<>()).addAll(r.path());
        }
        int colour = 0;
        int extra = 0;
        for (Map.Entry<String, List<Summary.PathMean>> e : fam.entrySet()) {
            Color col = PALETTE[colour++ % PALETTE.length];
            List<Summary.PathMean> pts = new ArrayList<>(e.getValue());
            pts.sort((a, b) -> Double.compare(a.kl().mean(), b.kl().mean()));
            double[] x = pts.stream().mapToDouble(p -> p.kl().mean()).toArray();
            double[] y = pts.stream().mapToDouble(p -> p.gold().mean()).toArray();
            double[] ey = pts.stream().mapToDouble(p -> finite(p.gold().halfWidth())).toArray();
            XYSeries series = c.addSeries(e.getKey(), x, y, ey);
            series.setMarker(SeriesMarkers.CIRCLE);
            series.setMarkerColor(col);
            series.setLineColor(col);
            series.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            for (Summary.PathMean p : pts) {
                double hw = finite(p.kl().halfWidth());
                if (hw > 0) {
                    XYSeries bar = c.addSeries("\u200b" + (extra++), new double[] {p.kl().low(), p.kl().high()},
                            new double[] {p.gold().mean(), p.gold().mean()});
                    bar.setMarker(SeriesMarkers.NONE);
                    bar.setLineColor(col);
                    bar.setShowInLegend(false);
                    bar.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
                }
            }
        }
        return c;
    }

    private static double finite(double v) {
        return Double.isFinite(v) ? v : 0;
    }

    /** One chart per method family of a training metric against the step (the first seed's runs). */
    static List<XYChart> curves(SentimentExperiment.Results r) {
        Map<String, XYChart> charts = new LinkedHashMap<>();
        for (SentimentExperiment.MethodResult m : r.methods()) {
            if (m.curve().isEmpty()) {
                continue;
            }
            String key = m.curve().get(0).containsKey("objective/scores") ? "objective/scores"
                    : m.curve().get(0).containsKey("rewards/margins") ? "rewards/margins" : "loss";
            String title = m.family().label() + ": " + key;
            XYChart c = charts.computeIfAbsent(title, t -> {
                XYChart x = new XYChartBuilder().width(440).height(300).title(t).xAxisTitle("step").yAxisTitle(key).build();
                style(x);
                return x;
            });
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (Map<String, Object> p : m.curve()) {
                if (p.get(key) instanceof Number v && p.get("step") instanceof Number st) {
                    xs.add(st.doubleValue());
                    ys.add(v.doubleValue());
                }
            }
            if (!xs.isEmpty()) {
                XYSeries s = c.addSeries(m.setting().equals("-") ? m.name() : m.setting(), xs, ys);
                s.setMarker(SeriesMarkers.NONE);
            }
        }
        return new ArrayList<>(charts.values());
    }

    private static void style(XYChart c) {
        var s = c.getStyler();
        s.setLegendPosition(Styler.LegendPosition.OutsideE);
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotGridLinesVisible(true);
        s.setMarkerSize(8);
        s.setYAxisDecimalPattern("#0.###");
        s.setXAxisDecimalPattern("#0.##");
    }

    static String svg(XYChart c) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        VectorGraphicsEncoder.saveVectorGraphic(c, b, VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
        String s = b.toString(StandardCharsets.UTF_8);
        int i = s.indexOf("<svg");
        return i >= 0 ? s.substring(i) : s;
    }
}
