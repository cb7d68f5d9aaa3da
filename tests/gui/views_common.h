#pragma once
// What the view tests share: waiting on the event loop, the main window as a user opens
// it, and the fixture that waits for the bundled models.
#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QFile>
#include <QTest>

#include <functional>
#include <memory>

#include "src/engine/engine.h"
#include "src/gui/main_window.h"
#include "src/gui/common/model_registry.h"

namespace vitscope::test {

inline bool waitFor(const std::function<bool()> &condition, int timeoutMs = 30000)
{
    QElapsedTimer timer;
    timer.start();
    while (!condition()) {
        if (timer.elapsed() > timeoutMs)
            return false;
        QTest::qWait(20);
    }
    return true;
}

inline bool haveFashionMnist()
{
    return QFile::exists(QString::fromStdString(vitscope::engine::defaultFashionMnistDir()) +
                         QStringLiteral("/t10k-images-idx3-ubyte.gz"));
}

inline std::unique_ptr<gui::MainWindow> makeWindow()
{
    gui::MainWindow::Options o;
    o.restoreSettings = false;
    auto w = std::make_unique<gui::MainWindow>(o);
    w->resize(1300, 850);
    w->show();
    return w;
}

} // namespace vitscope::test

class Views : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!vitscope::test::haveFashionMnist())
            GTEST_SKIP() << "Fashion-MNIST absent";
        if (vitscope::engine::bundledModels().size() < 2)
            GTEST_SKIP() << "bundled models absent";
        window = vitscope::test::makeWindow();
        ASSERT_TRUE(vitscope::test::waitFor([&] { return window->models()->models().size() == 2 && !window->isBusy(); }));
    }
    std::unique_ptr<vitscope::gui::MainWindow> window;
};
