#include "crm/billing/form.hpp"

#include <gtest/gtest.h>

#include "crm/error.hpp"

namespace crm::billing {
namespace {

TEST(FormTest, NestedKeysAreWrittenOutWithTheirBracketsEscaped) {
  EXPECT_EQ(FormEncode({{"line_items[0][price]", "price_123"},
                        {"line_items[0][quantity]", "1"},
                        {"metadata[user_id]", "7"}}),
            "line_items%5B0%5D%5Bprice%5D=price_123&line_items%5B0%5D%5Bquantity%5D=1&"
            "metadata%5Buser_id%5D=7");
}

TEST(FormTest, ValuesAreEscapedSoTheyCannotAddFields) {
  EXPECT_EQ(FormEncode({{"success_url", "https://x.test/app/billing?checkout=success&a=b"},
                        {"email", "a+b@x.test"},
                        {"name", "Zoë O'Neil"}}),
            "success_url=https%3A%2F%2Fx.test%2Fapp%2Fbilling%3Fcheckout%3Dsuccess%26a%3Db&"
            "email=a%2Bb%40x.test&name=Zo%C3%AB%20O%27Neil");
}

TEST(FormTest, DecodingGivesBackWhatWasEncoded) {
  FormFields fields = {{"metadata[user_id]", "7"},
                       {"success_url", "https://x.test/?a=1&b=2"},
                       {"empty", ""},
                       {"email", "a+b@x.test"}};
  EXPECT_EQ(FormDecode(FormEncode(fields)), fields);
  EXPECT_EQ(FormDecode("a=b+c&d"), (FormFields{{"a", "b c"}, {"d", ""}}));
}

TEST(FormTest, ABadEscapeIsAnInputError) {
  EXPECT_THROW(FormDecode("a=%zz"), InputError);
  EXPECT_THROW(FormDecode("a=%4"), InputError);
}

}  // namespace
}  // namespace crm::billing
