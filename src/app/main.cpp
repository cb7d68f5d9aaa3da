// vitscope: the Qt desktop app. Thin: options, then the main window.
#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QTimer>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include "src/engine/engine.h"
#include "src/gui/main_window.h"
#include "src/gui/samples/sample_grid_view.h"
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

} // namespace

int main(int argc, char **argv)
{
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
        QStringLiteral("Save a PNG of the main window once the first view has loaded (or failed), then quit."),
        QStringLiteral("file"));
    parser.addOption(screenshotOption);
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

    vitscope::gui::MainWindow window(parser.value(dataOption));
    window.show();
    if (parser.isSet(screenshotOption)) {
        const QString file = parser.value(screenshotOption);
        auto shoot = [&window, file]() {
            // Let the view lay itself out before grabbing.
            QTimer::singleShot(300, &window, [&window, file]() {
                const bool ok = window.grab().save(file, "PNG");
                std::fprintf(ok ? stdout : stderr, ok ? "saved %s\n" : "vitscope: error: cannot write %s\n",
                             qPrintable(file));
                QCoreApplication::exit(ok ? 0 : 1);
            });
        };
        auto *view = window.sampleGridView();
        QObject::connect(view, &vitscope::gui::SampleGridView::loaded, &window, shoot);
        QObject::connect(view, &vitscope::gui::SampleGridView::failed, &window, shoot);
    }
    return app->exec();
}
