// vitscope: the Qt desktop app. Thin: options, then the main window.
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTimer>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include <QStringList>

#include "src/engine/engine.h"
#include "src/gui/lessons/lesson_player.h"
#include "src/gui/main_window.h"
#include "src/app/responsiveness_bench.h"
#include "src/app/soak.h"
#include "src/app/teacher_screenshots.h"
#include "vitscope/version.h"

namespace {

bool wantsTextOnly(int argc, char **argv)
{
    for (int i = 1; i < argc; ++i)
        for (const char *opt : {"-h", "--help", "-v", "--version", "--help-all"})
            if (std::strcmp(argv[i], opt) == 0)
                return true;
    return false;
}

// --bench-ui, --screenshots DIR, --screenshot FILE: a scripted run that quits when done.
void scheduleScriptedRun(vitscope::gui::MainWindow &window, bool bench, const QString &screenshotsDir,
                         const QString &screenshotFile)
{
    if (bench) {
        QTimer::singleShot(0, &window, [&window]() {
            QTemporaryDir tmp;
            const QJsonObject result = vitscope::gui::runUiBenchmark(&window, tmp.path() + QStringLiteral("/images"));
            std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Indented).constData());
            std::fflush(stdout); // before anything at exit (LeakSanitizer's report) can end the process
            QCoreApplication::exit(0);
        });
    } else if (!screenshotsDir.isEmpty()) {
        window.saveScreenshots(screenshotsDir, [&window](bool ok, const QString &where) {
            if (ok) // then the teacher's path: live input and the Get model dialog
                for (const QString &missing : vitscope::gui::saveTeacherScreenshots(&window, where))
                    std::fprintf(stderr, "vitscope: warning: %s\n", qPrintable(missing));
            std::fprintf(ok ? stdout : stderr, ok ? "saved screenshots in %s\n" : "vitscope: error: cannot write %s\n",
                         qPrintable(where));
            QCoreApplication::exit(ok ? 0 : 1);
        });
    } else if (!screenshotFile.isEmpty()) {
        const QString file = screenshotFile;
        auto *timer = new QTimer(&window);
        auto quiet = std::make_shared<int>(0);
        QObject::connect(timer, &QTimer::timeout, &window, [&window, file, quiet, timer]() {
            // Two quiet ticks in a row (nothing loading or computing), or 60 s.
            if ((window.isBusy() ? (*quiet = 0) : ++*quiet) < 2 && timer->property("ticks").toInt() < 240) {
                timer->setProperty("ticks", timer->property("ticks").toInt() + 1);
                return;
            }
            timer->stop();
            const bool ok = window.grab().save(file, "PNG");
            std::fprintf(ok ? stdout : stderr, ok ? "saved %s\n" : "vitscope: error: cannot write %s\n", qPrintable(file));
            QCoreApplication::exit(ok ? 0 : 1);
        });
        timer->start(250);
    }
}

} // namespace

int main(int argc, char **argv)
{
    vitscope::engine::prepareProcess(); // before Qt or LibTorch start a thread
    // --help and --version need no display: answer them with a QCoreApplication.
    std::unique_ptr<QCoreApplication> app;
    if (wantsTextOnly(argc, argv))
        app = std::make_unique<QCoreApplication>(argc, argv);
    else
        app = std::make_unique<QApplication>(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("vitscope"));
    QCoreApplication::setOrganizationName(QStringLiteral("vitscope"));
    QCoreApplication::setApplicationVersion(QStringLiteral(VITSCOPE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Explore masked autoencoders (MAE) and CLIP: masking, reconstruction, zero-shot "
                       "classification and training."));
    parser.addHelpOption();
    QCommandLineOption versionOption({QStringLiteral("v"), QStringLiteral("version")},
                                     QStringLiteral("Version, LibTorch and compute device."));
    parser.addOption(versionOption);
    QCommandLineOption dataOption(QStringLiteral("data"),
                                  QStringLiteral("Folder with the Fashion-MNIST IDX files (default: %1).")
                                      .arg(QString::fromStdString(vitscope::engine::defaultFashionMnistDir())),
                                  QStringLiteral("dir"));
    parser.addOption(dataOption);
    QCommandLineOption screenshotOption(
        QStringLiteral("screenshot"),
        QStringLiteral("Save a PNG of the main window once the first view has settled, then quit."),
        QStringLiteral("file"));
    parser.addOption(screenshotOption);
    QCommandLineOption screenshotsOption(
        QStringLiteral("screenshots"),
        QStringLiteral("Save a PNG of every view into <dir> (what `make screenshots` runs), then quit."),
        QStringLiteral("dir"));
    parser.addOption(screenshotsOption);
    const QString views = vitscope::gui::MainWindow::viewNames().join(QStringLiteral(", "));
    QCommandLineOption viewOption(
        QStringLiteral("view"),
        QStringLiteral("The view to open: %1. Wins over the view a path would pick.").arg(views),
        QStringLiteral("name"));
    parser.addOption(viewOption);
    QCommandLineOption presentationOption(QStringLiteral("presentation"),
                                          QStringLiteral("Start in presentation mode (larger fonts for projectors)."));
    parser.addOption(presentationOption);
    QCommandLineOption benchOption(
        QStringLiteral("bench-ui"),
        QStringLiteral("Run a scripted session (slider drag, typing, a 300-image folder, training) measuring the "
                       "longest the window stays unresponsive; print JSON, then quit."));
    parser.addOption(benchOption);
    QCommandLineOption soakOption(
        QStringLiteral("soak"),
        QStringLiteral("Run a scripted lecture day over and over for <minutes> (model switches, every view, a "
                       "video, training started and stopped), sampling memory, file descriptors and threads; "
                       "print JSON, then quit. Models named beside it are cycled too."),
        QStringLiteral("minutes"));
    parser.addOption(soakOption);
    QCommandLineOption slideOption(QStringLiteral("slide"),
                                   QStringLiteral("With a lesson (LESSON.json): start on slide <n> (1-based)."),
                                   QStringLiteral("n"));
    parser.addOption(slideOption);
    QCommandLineOption freshOption(QStringLiteral("fresh"),
                                   QStringLiteral("Ignore the saved window layout and last choices."));
    parser.addOption(freshOption);
    parser.addPositionalArgument(
        QStringLiteral("paths"),
        QStringLiteral("Images (MAE explorer and Zero-shot), image folders (Zero-shot), models (loaded and made "
                       "current in every view of their kind): a bundled name, a Hugging Face or open_clip folder, "
                       "a checkpoint file (.pth, .pt, .bin, .safetensors) or a Hub id org/name[@revision] "
                       "(downloaded with progress), or training run folders (plotted)."),
        QStringLiteral("[paths...]"));
    parser.process(*app);

    if (parser.isSet(versionOption)) {
        try {
            const auto info = vitscope::engine::buildInfo();
            std::printf("vitscope %s\nLibTorch %s (%s)\ndevice: %s\n", VITSCOPE_VERSION, info.torchVersion.c_str(),
                        info.torchCuda ? "CUDA" : "CPU only", info.device.c_str());
        } catch (const std::exception &e) {
            std::fprintf(stderr, "vitscope: error: %s\n", e.what());
            return 1;
        }
        return 0;
    }

    const bool shooting = parser.isSet(screenshotOption) || parser.isSet(screenshotsOption) ||
                          parser.isSet(benchOption) || parser.isSet(soakOption);
    double soakMinutes = 0;
    if (parser.isSet(soakOption)) {
        bool ok = false;
        soakMinutes = parser.value(soakOption).toDouble(&ok);
        if (!ok || soakMinutes <= 0 || soakMinutes > 24 * 60) {
            std::fprintf(stderr, "vitscope: error: --soak %s: give the minutes, more than 0 and at most 1440\n",
                         qPrintable(parser.value(soakOption)));
            return 2;
        }
    }
    vitscope::gui::MainWindow::Options options;
    options.dataDir = parser.value(dataOption);
    options.restoreSettings = !parser.isSet(freshOption) && !shooting;
    if (parser.isSet(viewOption) && !vitscope::gui::MainWindow::viewNames().contains(parser.value(viewOption))) {
        std::fprintf(stderr, "vitscope: error: unknown view '%s' (%s)\n", qPrintable(parser.value(viewOption)),
                     qPrintable(views));
        return 2;
    }
    vitscope::gui::MainWindow window(options);
    if (parser.isSet(presentationOption))
        window.setPresentationMode(true);
    if (shooting)
        window.resize(1400, 900);
    window.show();
    window.openPaths(parser.positionalArguments());
    if (parser.isSet(slideOption)) {
        bool ok = false;
        const int slide = parser.value(slideOption).toInt(&ok);
        if (!ok || !window.lessons()->isOpen() || slide < 1 || slide > window.lessons()->count()) {
            std::fprintf(stderr, "vitscope: error: --slide %s: %s\n", qPrintable(parser.value(slideOption)),
                         window.lessons()->isOpen()
                             ? qPrintable(QStringLiteral("the lesson has slides 1 to %1").arg(window.lessons()->count()))
                             : "no lesson was opened (give a LESSON.json path)");
            return 2;
        }
        window.lessons()->show(slide - 1);
    }
    if (parser.isSet(viewOption))
        window.showView(parser.value(viewOption)); // --view wins over the view a path picks

    // glibc keeps what worker threads free in their own arenas and returns little of it:
    // over a soak, resident memory crept up 27% in two minutes with no leak behind it (flat
    // with MALLOC_ARENA_MAX=1; docs/reliability.md). Handing free pages back every 20 s while
    // the app is idle keeps it flat.
#ifdef __GLIBC__
    auto *trim = new QTimer(&window);
    trim->setInterval(20000);
    QObject::connect(trim, &QTimer::timeout, &window, [&window]() {
        if (!window.isBusy())
            malloc_trim(0);
    });
    trim->start();
#endif
    if (soakMinutes > 0) {
        QTimer::singleShot(0, &window, [&window, soakMinutes]() {
            QTemporaryDir tmp;
            const QJsonObject result = vitscope::gui::runSoak(&window, soakMinutes, tmp.path());
            std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Indented).constData());
            std::fflush(stdout); // before anything at exit (LeakSanitizer's report) can end the process
            QCoreApplication::exit(0);
        });
        return app->exec();
    }
    scheduleScriptedRun(window, parser.isSet(benchOption),
                        parser.isSet(screenshotsOption) ? parser.value(screenshotsOption) : QString(),
                        parser.isSet(screenshotOption) ? parser.value(screenshotOption) : QString());
    return app->exec();
}
