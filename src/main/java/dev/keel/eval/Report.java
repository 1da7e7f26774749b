package dev.keel.eval;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import dev.keel.KeelException;

/**
 * Writes {@code results.json} (every number) and {@code report.html}: a static page, readable without a
 * network, with the reward-against-KL frontier, training curves, a table of every method and side-by-side
 * samples. Charts are drawn by XChart as inline SVG.
 */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Report() {}

    public static void write(SentimentExperiment.Results r, Path dir, String command) {
        System.setProperty("java.awt.headless", "true");
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("results.json"), JSON.writeValueAsBytes(json(r, command)));
            Files.writeString(dir.resolve("report.html"), html(r, command), StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("frontier.svg"), svg(frontier(r, 900, 560)), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KeelException("cannot write the report into " + dir + ": " + e.getMessage(), e);
        }
    }

    static ObjectNode json(SentimentExperiment.Results r, String command) {
        ObjectNode o = JSON.createObjectNode();
        o.put("command", command);
        o.putPOJO("config", r.config());
        o.put("reward_model_heldout_accuracy", r.rmHeldOutAccuracy());
        o.put("preference_pairs", r.pairs());
        o.put("eval_prompts", r.evalPromptTexts().size());
        o.put("total_seconds", r.totalSeconds());
        ArrayNode ms = o.putArray("methods");
        for (SentimentExperiment.MethodResult m : r.methods()) {
            ObjectNode n = ms.addObject();
            n.put("name", m.name()).put("family", m.family()).put("setting", m.setting());
            n.put("gold_reward", m.eval().goldReward()).put("gold_reward_std", m.eval().goldStd());
            n.put("kl_to_sft", m.eval().kl()).put("win_rate_vs_sft", m.eval().winRate());
            n.putPOJO("cost", m.cost());
            ArrayNode curve = n.putArray("curve");
            m.curve().forEach(curve::addPOJO);
            ArrayNode samples = n.putArray("samples");
            for (int i = 0; i < Math.min(12, m.eval().samples().texts().size()); i++) {
                samples.addObject().put("prompt", r.evalPromptTexts().get(i))
                        .put("completion", m.eval().samples().texts().get(i))
                        .put("gold", m.eval().samples().gold()[i]);
            }
        }
        return o;
    }

    /** Gold reward against KL to the SFT model, one series per method family. */
    static XYChart frontier(SentimentExperiment.Results r, int w, int h) {
        XYChart c = new XYChartBuilder().width(w).height(h)
                .title("Gold reward against KL to the SFT model (held-out prompts)")
                .xAxisTitle("KL(\u03c0 \u2016 \u03c0_SFT), nats per completion")
                .yAxisTitle("mean gold reward (VADER compound)").build();
        style(c);
        Map<String, List<double[]>> fam = new LinkedHashMap<>();
        for (SentimentExperiment.MethodResult m : r.methods()) {
            fam.computeIfAbsent(m.family(), k -> new ArrayList<>()).add(new double[] {m.eval().kl(), m.eval().goldReward()});
        }
        for (Map.Entry<String, List<double[]>> e : fam.entrySet()) {
            List<double[]> pts = new ArrayList<>(e.getValue());
            pts.sort((a, b) -> Double.compare(a[0], b[0]));
            double[] x = pts.stream().mapToDouble(p -> p[0]).toArray();
            double[] y = pts.stream().mapToDouble(p -> p[1]).toArray();
            XYSeries s = c.addSeries(e.getKey(), x, y);
            s.setMarker(SeriesMarkers.CIRCLE);
            s.setXYSeriesRenderStyle(pts.size() > 1 ? XYSeries.XYSeriesRenderStyle.Line : XYSeries.XYSeriesRenderStyle.Scatter);
        }
        return c;
    }

    /** One chart per method family of a training metric against the step. */
    static List<XYChart> curves(SentimentExperiment.Results r) {
        Map<String, XYChart> charts = new LinkedHashMap<>();
        for (SentimentExperiment.MethodResult m : r.methods()) {
            if (m.curve().isEmpty()) {
                continue;
            }
            String key = m.curve().get(0).containsKey("objective/scores") ? "objective/scores"
                    : m.curve().get(0).containsKey("rewards/margins") ? "rewards/margins" : "loss";
            String title = m.family() + ": " + key;
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
        s.setChartBackgroundColor(java.awt.Color.WHITE);
        s.setPlotGridLinesVisible(true);
        s.setMarkerSize(9);
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

    static String html(SentimentExperiment.Results r, String command) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Keel: PPO against DPO on controlled sentiment</title>")
                .append("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;font-size:14px}")
                .append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}")
                .append(".charts svg{margin:4px}.note{background:#f8f8f0;border-left:4px solid #cc9;padding:8px 12px}</style></head><body>");
        h.append("<h1>PPO against DPO on controlled sentiment</h1>");
        h.append("<p>A miniature of the DPO paper's controlled sentiment experiment (Rafailov et al. 2023, Sec. 6.1, Fig. 2), ")
                .append("run by Keel on its embedded 4.2M-parameter model on this machine's CPU. Prompts are 2-8 token prefixes of ")
                .append("held-out review sentences; the gold reward is VADER's compound score (Hutto &amp; Gilbert 2014) of the ")
                .append("completion; preference pairs were sampled from the SFT model and labelled by the gold reward. Every policy is ")
                .append("evaluated with one fresh sample (temperature 1) per held-out prompt.</p>");
        h.append("<p>Command: <code>").append(esc(command)).append("</code>. Held-out prompts: ").append(r.evalPromptTexts().size())
                .append(". Preference pairs: ").append(r.pairs()).append(". Reward model held-out accuracy: ")
                .append(fmt(r.rmHeldOutAccuracy())).append(". Total time: ").append(String.format(Locale.ROOT, "%.0f s", r.totalSeconds()))
                .append(" (").append(esc(dev.keel.runtime.Natives.summary())).append(").</p>");
        h.append("<h2>What was measured</h2>").append(verdict(r));
        h.append("<h2>Reward against KL</h2><div class=\"charts\">").append(svg(frontier(r, 900, 560))).append("</div>");
        h.append("<p>Higher at the same KL is more efficient. Best-of-N's KL is the analytic bound log N &minus; (N&minus;1)/N ")
                .append("(Stiennon et al. 2020); every other KL is estimated from the samples as the mean of &Sigma;<sub>t</sub> ")
                .append("log &pi;(y<sub>t</sub>) &minus; log &pi;<sub>SFT</sub>(y<sub>t</sub>).</p>");
        h.append("<h2>Every method</h2><table><tr><th class=\"l\">method</th><th>gold reward</th><th>&plusmn; std</th><th>KL to SFT</th>")
                .append("<th>win rate vs SFT</th><th>wall time (s)</th><th>peak RSS (MB)</th><th>forward seqs</th><th>backward seqs</th>")
                .append("<th>forward tokens</th></tr>");
        for (SentimentExperiment.MethodResult m : r.methods()) {
            h.append("<tr><td class=\"l\">").append(esc(m.name())).append("</td><td>").append(fmt(m.eval().goldReward()))
                    .append("</td><td>").append(fmt(m.eval().goldStd())).append("</td><td>").append(fmt(m.eval().kl()))
                    .append("</td><td>").append(fmt(m.eval().winRate())).append("</td><td>")
                    .append(String.format(Locale.ROOT, "%.1f", m.cost().seconds())).append("</td><td>")
                    .append(String.format(Locale.ROOT, "%.0f", m.cost().peakRssMb())).append("</td><td>")
                    .append(m.cost().forwardSequences()).append("</td><td>").append(m.cost().backwardSequences())
                    .append("</td><td>").append(m.cost().forwardTokens()).append("</td></tr>");
        }
        h.append("</table><p>Costs cover training (and, for DPO, the reference pass; for best-of-N, sampling N per prompt and ")
                .append("scoring with the learned reward), not the shared SFT, pair sampling and reward model, which are listed ")
                .append("as rows of their own where they apply. Peak RSS is the process's high-water mark during the method.</p>");
        h.append("<h2>Training curves</h2><div class=\"charts\">");
        for (XYChart c : curves(r)) {
            h.append(svg(c));
        }
        h.append("</div><h2>Samples for the same prompts</h2><table><tr><th class=\"l\">prompt</th>");
        List<SentimentExperiment.MethodResult> shown = new ArrayList<>();
        for (SentimentExperiment.MethodResult m : r.methods()) {
            if (shown.stream().noneMatch(x -> x.family().equals(m.family()))) {
                shown.add(m);
                h.append("<th class=\"l\">").append(esc(m.name())).append("</th>");
            }
        }
        h.append("</tr>");
        for (int i = 0; i < Math.min(8, r.evalPromptTexts().size()); i++) {
            h.append("<tr><td class=\"l\"><b>").append(esc(r.evalPromptTexts().get(i))).append("</b></td>");
            for (SentimentExperiment.MethodResult m : shown) {
                h.append("<td class=\"l\">").append(esc(m.eval().samples().texts().get(i))).append(" <small>(")
                        .append(fmt(m.eval().samples().gold()[i])).append(")</small></td>");
            }
            h.append("</tr>");
        }
        h.append("</table>");
        h.append("<h2>Caveats</h2><div class=\"note\"><p>This is one seed, a 4M-parameter model and a few minutes of CPU: ")
                .append("the differences between methods are within what tuning could change. Xu et al. 2024 (\"Is DPO Superior ")
                .append("to PPO for LLM Alignment?\", arXiv 2404.10719) find that PPO beats DPO when it uses advantage normalisation, ")
                .append("large batches and an EMA reference, and that DPO suffers under distribution shift between the preference data ")
                .append("and the policy's own outputs; here PPO runs with small batches and a frozen reference, and DPO's pairs come ")
                .append("from the SFT model itself (no shift at the start). PPO against the gold reward is an upper reference, not a ")
                .append("method one could use on real data. The learned reward model's errors bound what PPO and best-of-N against it ")
                .append("can reach.</p></div>");
        h.append("</body></html>\n");
        return h.toString();
    }

    /** The plain statement of the result: which method reached the highest gold reward, and at what KL. */
    static String verdict(SentimentExperiment.Results r) {
        SentimentExperiment.MethodResult best = null;
        SentimentExperiment.MethodResult bestPpo = null;
        SentimentExperiment.MethodResult bestDpo = null;
        for (SentimentExperiment.MethodResult m : r.methods()) {
            if (best == null || m.eval().goldReward() > best.eval().goldReward()) {
                best = m;
            }
            if (m.family().startsWith("PPO (learned") && (bestPpo == null || m.eval().goldReward() > bestPpo.eval().goldReward())) {
                bestPpo = m;
            }
            if (m.family().equals("DPO") && (bestDpo == null || m.eval().goldReward() > bestDpo.eval().goldReward())) {
                bestDpo = m;
            }
        }
        StringBuilder s = new StringBuilder("<p>");
        s.append("Highest mean gold reward: <b>").append(esc(best.name())).append("</b>, ").append(fmt(best.eval().goldReward()))
                .append(" at KL ").append(fmt(best.eval().kl())).append(" (SFT: ")
                .append(fmt(r.methods().get(0).eval().goldReward())).append("). ");
        if (bestPpo != null && bestDpo != null) {
            boolean ppoWins = bestPpo.eval().goldReward() > bestDpo.eval().goldReward();
            s.append("Between the two routes with the same learned information, ").append(ppoWins ? "PPO" : "DPO")
                    .append(" reached the higher gold reward here: ").append(esc(bestPpo.name())).append(" ")
                    .append(fmt(bestPpo.eval().goldReward())).append(" at KL ").append(fmt(bestPpo.eval().kl()))
                    .append(" in ").append(String.format(Locale.ROOT, "%.0f s", bestPpo.cost().seconds())).append(", against ")
                    .append(esc(bestDpo.name())).append(" ").append(fmt(bestDpo.eval().goldReward())).append(" at KL ")
                    .append(fmt(bestDpo.eval().kl())).append(" in ").append(String.format(Locale.ROOT, "%.0f s", bestDpo.cost().seconds()))
                    .append(". ");
        }
        s.append("These are the measured numbers of one run; see the caveats below.</p>");
        return s.toString();
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
